/* Content detectors: card numbers (Luhn), emails, IBANs (mod 97), US SSNs
 * and PCRE2 regexes, found in one pass over the bytes (plus one pass per
 * regex, compiled and JIT-compiled once when the engine is made). */

#include "mask/internal.h"

#include <stdlib.h>
#include <string.h>

#define IS_DIGIT(c) ((unsigned)((unsigned char)(c) - (unsigned)'0') < 10u)
#define IS_UPPER(c) ((unsigned)((unsigned char)(c) - (unsigned)'A') < 26u)
#define IS_LOWER(c) ((unsigned)((unsigned char)(c) - (unsigned)'a') < 26u)
#define IS_ALPHA(c) (IS_UPPER(c) || IS_LOWER(c))
#define IS_ALNUM(c) (IS_DIGIT(c) || IS_ALPHA(c))

static int span_add(struct mask_scratch *s, size_t start, size_t end, unsigned kind);
static size_t card_at(const char *in, size_t len, size_t i);
static size_t ssn_at(const char *in, size_t len, size_t i);
static size_t iban_at(const char *in, size_t len, size_t i);
static size_t email_at(const char *in, size_t len, size_t at, size_t floor,
    size_t *start);
static int iban_length(const char *cc);
static int is_local(unsigned char c);
static int span_cmp(const void *a, const void *b);

int
detect_luhn_ok(const char *digits, size_t n)
{
	unsigned sum = 0;
	for (size_t k = 0; k < n; k++) {
		unsigned d = (unsigned)(digits[n - 1 - k] - '0');
		if (d > 9)
			return 0;
		if (k & 1) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return n > 0 && sum % 10 == 0;
}

/* The ISO 13616 check: the first four characters moved to the end,
 * letters as 10..35, the number mod 97 is 1. */
int
detect_iban_ok(const char *s, size_t n)
{
	if (n < 15 || n > 34 || !IS_UPPER(s[0]) || !IS_UPPER(s[1]) ||
	    !IS_DIGIT(s[2]) || !IS_DIGIT(s[3]))
		return 0;
	unsigned r = 0;
	for (size_t k = 0; k < n; k++) {
		char c = s[(k + 4) % n];
		if (IS_DIGIT(c))
			r = (r * 10 + (unsigned)(c - '0')) % 97;
		else if (IS_UPPER(c))
			r = (r * 100 + (unsigned)(c - 'A' + 10)) % 97;
		else if (IS_LOWER(c))
			r = (r * 100 + (unsigned)(c - 'a' + 10)) % 97;
		else
			return 0;
	}
	return r == 1;
}

/* AAA-GG-SSSS: area not 000, 666 or 9xx, group not 00, serial not 0000. */
int
detect_ssn_ok(const char *s, size_t n)
{
	if (n != 11 || s[3] != '-' || s[6] != '-')
		return 0;
	for (size_t k = 0; k < 11; k++)
		if (k != 3 && k != 6 && !IS_DIGIT(s[k]))
			return 0;
	if (memcmp(s, "000", 3) == 0 || memcmp(s, "666", 3) == 0 || s[0] == '9')
		return 0;
	if (memcmp(s + 4, "00", 2) == 0 || memcmp(s + 7, "0000", 4) == 0)
		return 0;
	return 1;
}

int
detect_spans(const struct mask_engine *e, const char *in, size_t len)
{
	struct mask_scratch *s = e->scratch;
	s->nspans = 0;
	unsigned det = e->detectors;
	size_t floor = 0;	/* end of the last span */
	size_t i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)in[i];
		size_t end = 0, start = i;
		unsigned kind = 0;
		if (IS_DIGIT(c)) {
			if (i > 0 && IS_DIGIT(in[i - 1])) {
				i++;
				continue;
			}
			if ((det & DET_SSN) && (end = ssn_at(in, len, i)) != 0)
				kind = DET_SSN;
			else if ((det & DET_CARD) && (end = card_at(in, len, i)) != 0)
				kind = DET_CARD;
		} else if (c == '@') {
			if ((det & DET_EMAIL) && (end = email_at(in, len, i, floor, &start)) != 0)
				kind = DET_EMAIL;
		} else if (IS_UPPER(c)) {
			if ((det & DET_IBAN) && (i == 0 || !IS_ALNUM(in[i - 1])) &&
			    (end = iban_at(in, len, i)) != 0)
				kind = DET_IBAN;
		}
		if (kind == 0) {
			i++;
			continue;
		}
		if (span_add(s, start, end, kind) != 0)
			return -1;
		floor = end;
		i = end;
	}
	size_t builtin = s->nspans;
	for (size_t r = 0; r < e->nregexes; r++) {
		if (!e->regexes[r].used)
			continue;
		size_t off = 0;
		while (off <= len) {
			int rc = pcre2_match(e->regexes[r].code, (PCRE2_SPTR)in, len, off,
			    0, s->md, NULL);
			if (rc == PCRE2_ERROR_NOMATCH)
				break;
			if (rc < 0)
				return -1;	/* match limit, bad UTF ...: fail closed */
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
			if (ov[1] > ov[0] && span_add(s, ov[0], ov[1], 0) != 0)
				return -1;
			off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
		}
	}
	if (s->nspans > builtin) {
		/* Order by start and merge overlaps. */
		qsort(s->spans, s->nspans, sizeof *s->spans, span_cmp);
		size_t w = 0;
		for (size_t k = 1; k < s->nspans; k++) {
			if (s->spans[k].start < s->spans[w].end) {
				if (s->spans[k].end > s->spans[w].end)
					s->spans[w].end = s->spans[k].end;
				if (s->spans[w].kind != s->spans[k].kind)
					s->spans[w].kind = 0;
			} else {
				s->spans[++w] = s->spans[k];
			}
		}
		s->nspans = w + 1;
	}
	return (int)s->nspans;
}

static int
span_cmp(const void *a, const void *b)
{
	const struct mask_span *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start ? 1 :
	    x->end > y->end ? -1 : x->end < y->end;
}

static int
span_add(struct mask_scratch *s, size_t start, size_t end, unsigned kind)
{
	if (s->nspans == s->capspans) {
		size_t cap = s->capspans ? s->capspans * 2 : 16;
		struct mask_span *n = realloc(s->spans, cap * sizeof *n);
		if (n == NULL)
			return -1;
		s->spans = n;
		s->capspans = cap;
	}
	s->spans[s->nspans++] = (struct mask_span){ start, end, kind };
	return 0;
}

/* 13 to 19 digits from i (not preceded by a digit), single spaces or
 * dashes allowed between digits, ending before a non-digit, Luhn valid:
 * the longest such returns its end, else 0. */
static size_t
card_at(const char *in, size_t len, size_t i)
{
	/* sum_even: digits at even index doubled; sum_odd: at odd index. */
	unsigned sum_even = 0, sum_odd = 0;
	size_t nd = 0, best = 0;
	size_t k = i;
	while (k < len && nd < 19) {
		if (!IS_DIGIT(in[k]))
			break;
		unsigned d = (unsigned)(in[k] - '0');
		unsigned dd = d * 2 > 9 ? d * 2 - 9 : d * 2;
		if (nd & 1) {
			sum_odd += dd;
			sum_even += d;
		} else {
			sum_even += dd;
			sum_odd += d;
		}
		nd++;
		k++;
		int boundary = k == len || !IS_DIGIT(in[k]);
		if (nd >= 13 && boundary) {
			/* The last digit (index nd-1) is not doubled: the doubled
			 * ones have the other parity. */
			unsigned sum = (nd - 1) & 1 ? sum_even : sum_odd;
			if (sum % 10 == 0)
				best = k;
		}
		if (k < len && (in[k] == ' ' || in[k] == '-') && k + 1 < len &&
		    IS_DIGIT(in[k + 1]))
			k++;
	}
	return best;
}

static size_t
ssn_at(const char *in, size_t len, size_t i)
{
	if (i + 11 > len || !detect_ssn_ok(in + i, 11))
		return 0;
	if (i + 11 < len && (IS_DIGIT(in[i + 11]) ||
	    (in[i + 11] == '-' && i + 12 < len && IS_DIGIT(in[i + 12]))))
		return 0;
	if (i > 0 && in[i - 1] == '-' && i > 1 && IS_DIGIT(in[i - 2]))
		return 0;
	return i + 11;
}

/* Lengths per country (the IBAN registry); 0 for an unknown country,
 * where any length from 15 to 34 with a valid checksum counts. */
static int
iban_length(const char *cc)
{
	static const char table[] =
	    "AD24AE23AL28AT20AZ28BA20BE16BG22BH22BI27BR29BY28CH21CR22CY28CZ24"
	    "DE22DJ27DK18DO28EE20EG29ES24FI18FK18FO18FR27GB22GE22GI23GL18GR27"
	    "GT28HR21HU28IE22IL23IQ23IS26IT27JO30KW30KZ20LB28LC32LI21LT20LU20"
	    "LV21LY25MC27MD24ME22MK19MN20MR27MT31MU30NI28NL18NO15OM23PK24PL28"
	    "PS29PT25QA29RO24RS22RU33SA24SC31SD18SE24SI19SK24SM27SO23ST25SV28"
	    "TL23TN24TR26UA29VA22VG24XK20YE30";
	for (const char *t = table; *t != '\0'; t += 4)
		if (t[0] == cc[0] && t[1] == cc[1])
			return (t[2] - '0') * 10 + (t[3] - '0');
	return 0;
}

/* CC99 then letters and digits, compact or in groups of four separated
 * by single spaces. */
static size_t
iban_at(const char *in, size_t len, size_t i)
{
	if (i + 15 > len || !IS_UPPER(in[i + 1]) || !IS_DIGIT(in[i + 2]) ||
	    !IS_DIGIT(in[i + 3]))
		return 0;
	char compact[34];
	size_t ends[35];	/* ends[n]: input end after n characters */
	size_t n = 0, k = i;
	int spaced = -1;	/* unknown until position 4 */
	while (k < len && n < 34) {
		char c = in[k];
		if (c == ' ' && n % 4 == 0 && n > 0 && spaced != 0 && k + 1 < len &&
		    IS_ALNUM(in[k + 1])) {
			spaced = 1;
			k++;
			continue;
		}
		if (!IS_ALNUM(c))
			break;
		if (n == 4 && spaced == -1)
			spaced = 0;
		if (spaced == 1 && n % 4 == 0 && k > i && in[k - 1] != ' ')
			break;	/* a group longer than four */
		compact[n++] = c;
		k++;
		ends[n] = k;
	}
	int want = iban_length(compact);
	if (want > 0) {
		if ((size_t)want > n || !detect_iban_ok(compact, (size_t)want))
			return 0;
		size_t e = ends[want];
		/* Must not run on into more letters or digits. */
		if (e < len && IS_ALNUM(in[e]))
			return 0;
		return e;
	}
	for (size_t m = n; m >= 15; m--) {
		size_t e = ends[m];
		if ((e >= len || !IS_ALNUM(in[e])) && detect_iban_ok(compact, m))
			return e;
	}
	return 0;
}

static int
is_local(unsigned char c)
{
	return IS_ALNUM(c) || c == '.' || c == '_' || c == '%' || c == '+' ||
	    c == '-';
}

/* local@domain.tld around the '@' at index at; the local part does not
 * reach back before floor. */
static size_t
email_at(const char *in, size_t len, size_t at, size_t floor, size_t *start)
{
	size_t s = at;
	while (s > floor && is_local((unsigned char)in[s - 1]))
		s--;
	if (s == at)
		return 0;
	size_t k = at + 1, label = 0, labels = 0, last_alpha = 0, end = 0;
	int alpha_only = 1;
	while (k < len) {
		char c = in[k];
		if (IS_ALNUM(c) || c == '-') {
			label++;
			if (!IS_ALPHA(c))
				alpha_only = 0;
			k++;
			continue;
		}
		if (c == '.' && label > 0 && k + 1 < len && IS_ALNUM(in[k + 1])) {
			labels++;
			label = 0;
			alpha_only = 1;
			k++;
			continue;
		}
		break;
	}
	if (label > 0) {
		labels++;
		last_alpha = alpha_only && label >= 2;
	}
	if (labels < 2 || !last_alpha)
		return 0;
	end = k;
	*start = s;
	return end;
}
