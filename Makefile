# pgward — see README.md. `make demo` and `make check` do all the set-up.

BUILD    ?= build
SAN      ?= 0
PREFIX   ?= /usr/local
DESTDIR  ?=

PKGS     := jansson libjwt openssl libpq
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS := -Ilib -I. $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -I/usr/include/pg_query
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpg_query -lpcre2-8
ifeq ($(SAN),1)
CFLAGS   := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

# Every top-level folder with a main.c is a program: pgward-<folder>.
DAEMONS  := $(patsubst %/main.c,%,$(wildcard */main.c))
# Every .c under these folders except main.c is a module shared with tests.
LIB_SRC  := $(wildcard lib/*.c)
# pgward-login alone speaks HTTP (libcurl): its network modules stay out of
# MOD_OBJ, which every unit test links.
LOGIN_NET := login/http.c login/grant.c
MOD_SRC  := $(filter-out $(LOGIN_NET),$(sort $(foreach d,$(DAEMONS) mask,$(filter-out $(d)/main.c,$(wildcard $(d)/*.c)))))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
MOD_OBJ  := $(MOD_SRC:%.c=$(BUILD)/obj/%.o)
BINS     := $(DAEMONS:%=$(BUILD)/bin/pgward-%)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
percent  := %
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)
# Stand-alone benchmark tools (scripts/bench): tests/bench/X.c -> $(BUILD)/tools/X
BENCH_BIN := $(patsubst tests/bench/%.c,$(BUILD)/tools/%,$(wildcard tests/bench/*.c))

.PHONY: all check unit integration demo bench bench-tools deps clean install man
all: $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libpgward.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

.SECONDEXPANSION:
$(BUILD)/bin/pgward-%: $(BUILD)/obj/%/main.o $$(filter $(BUILD)/obj/%/$$(percent),$(MOD_OBJ)) $(BUILD)/libpgward.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(BUILD)/libpgward.a $(LDLIBS)

# The relay masks results in-process with the engine from mask/.
$(BUILD)/bin/pgward-relay: $(filter $(BUILD)/obj/mask/%,$(MOD_OBJ))

# The policy grammar: the filter's parser (filter/rules.c) hands mask lines
# to mask/policy.c; pgward-mask reads whole policies (connect lines too) with it.
$(BUILD)/bin/pgward-mask: $(BUILD)/obj/filter/rules.o
$(BUILD)/bin/pgward-filter: $(BUILD)/obj/mask/policy.o $(BUILD)/obj/mask/styles.o

# pgward-login: libcurl for this binary only; the secret file is read as
# pgward-auth reads its files.
CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
$(BUILD)/bin/pgward-login: $(LOGIN_NET:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/auth/file.o
$(BUILD)/bin/pgward-login: LDLIBS += $(shell pkg-config --libs libcurl 2>/dev/null)
$(LOGIN_NET:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/login/main.o: CPPFLAGS += $(CURL_CFLAGS)

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(MOD_OBJ) $(BUILD)/libpgward.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(MOD_OBJ) $(BUILD)/libpgward.a $(LDLIBS) $(CHECK_LIBS)

deps:
	@scripts/install-deps
	@scripts/install-npm

# The tests use a sanitizer build of everything (ASan + UBSan).
check: deps
	$(MAKE) BUILD=build-san SAN=1 all unit-bins
	$(MAKE) BUILD=build-san SAN=1 unit integration

unit-bins: $(UNIT_BIN)

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; CK_FORK=yes $$t; done

integration:
	PGWARD_BUILD=$(abspath $(BUILD)) /usr/bin/python3 tests/integration/run.py

demo: deps all
	scripts/demo

$(BUILD)/tools/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $<

bench-tools: $(BENCH_BIN)

bench: deps all bench-tools
	scripts/bench

# Man pages from docs/*.md (scripts/md2man): the CLIs in section 1, the
# daemons in 8, formats and protocols in 5 as pgward-PAGE.
MAN1_SRC := $(filter docs/pgward-replay.md docs/pgward-mask.md docs/pgward-login.md,$(wildcard docs/pgward-*.md))
MAN8_SRC := $(filter-out $(MAN1_SRC),$(wildcard docs/pgward-*.md))
MAN5_SRC := $(filter-out docs/pgward-%.md docs/benchmark.md docs/operations.md,$(wildcard docs/*.md))
MAN_PAGES := $(MAN1_SRC:docs/%.md=$(BUILD)/man/man1/%.1) \
	$(MAN8_SRC:docs/%.md=$(BUILD)/man/man8/%.8) \
	$(MAN5_SRC:docs/%.md=$(BUILD)/man/man5/pgward-%.5)
MD2MAN := scripts/md2man -v $(shell sed -n 's/^\#define PGWARD_VERSION "\(.*\)"/\1/p' lib/daemon.h)

$(BUILD)/man/man1/%.1: docs/%.md scripts/md2man
	@mkdir -p $(dir $@)
	$(MD2MAN) -n $* -s 1 $< > $@.tmp && mv $@.tmp $@
$(BUILD)/man/man8/%.8: docs/%.md scripts/md2man
	@mkdir -p $(dir $@)
	$(MD2MAN) -n $* -s 8 $< > $@.tmp && mv $@.tmp $@
$(BUILD)/man/man5/pgward-%.5: docs/%.md scripts/md2man
	@mkdir -p $(dir $@)
	$(MD2MAN) -n pgward-$* -s 5 $< > $@.tmp && mv $@.tmp $@

man: $(MAN_PAGES)

# PREFIX and DESTDIR as usual. Service files name /usr/local/bin (and
# /usr/local/share): they are rewritten for PREFIX on the way.
SHARE    = $(DESTDIR)$(PREFIX)/share
FIXPATHS = sed -e 's\#/usr/local/bin\#$(PREFIX)/bin\#g' -e 's\#/usr/local/share\#$(PREFIX)/share\#g'
install: all man
	install -d $(DESTDIR)$(PREFIX)/bin $(SHARE)/man/man1 $(SHARE)/man/man5 $(SHARE)/man/man8
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(filter %.1,$(MAN_PAGES)) $(SHARE)/man/man1/
	install -m 644 $(filter %.5,$(MAN_PAGES)) $(SHARE)/man/man5/
	install -m 644 $(filter %.8,$(MAN_PAGES)) $(SHARE)/man/man8/
	install -d $(SHARE)/doc/pgward/examples
	install -m 644 docs/examples/* $(SHARE)/doc/pgward/examples/
	install -m 644 README.md $(wildcard docs/operations.md) $(SHARE)/doc/pgward/
	install -d $(SHARE)/pgward/systemd
	set -e; for f in scripts/systemd/*; do \
		$(FIXPATHS) $$f > $(SHARE)/pgward/systemd/$${f##*/}; \
		chmod 644 $(SHARE)/pgward/systemd/$${f##*/}; done
	set -e; for d in scripts/s6/*/; do \
		s=$(SHARE)/pgward/s6/$$(basename $$d); \
		install -d $$s/log; \
		for f in run finish log/run; do \
			$(FIXPATHS) $$d$$f > $$s/$$f; chmod 755 $$s/$$f; done; \
		install -m 644 $$d/notification-fd $$s/; done

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
