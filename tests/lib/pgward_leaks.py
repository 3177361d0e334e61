"""Whether a masked value, or anything it can be rebuilt from, reached a
client: for the masking tests (tests/integration/test_mask_provision.py,
test_masking_database.py, test_masking_gateway.py).

    leaks = Leaks(hidden)            # the parts of raw values masking hides
    leaks.find(data)                 # None, or (secret, how it was found)
    leaks.assert_no_leak(self, "what", data)

Two directions, both case-insensitive:
  - the secrets' forms: each hidden string, reversed, base64, hex, with its
    digits translated to letters (0123456789 -> abcdefghij);
  - the output's decodings: the text as is, reversed, its base64 and hex
    runs decoded, letters a-j translated back to digits, and each row's
    fields joined with nothing between them (halves of one value in one
    row: substr(card, 1, 8), substr(card, 9)).
data: text, bytes, or rows (lists/tuples of str, bytes, None, lists, ...);
bytes of length 4 or 8 (binary int4/int8) are read as integers too."""

import base64
import binascii
import hashlib
import re
import struct

DIGITS_TO_LETTERS = str.maketrans("0123456789", "abcdefghij")
LETTERS_TO_DIGITS = str.maketrans("abcdefghij", "0123456789")
B64_RUN = re.compile(r"[A-Za-z0-9+/]{8,}={0,2}")
B64URL_RUN = re.compile(r"[A-Za-z0-9_-]{8,}")
LETTER_RUN = re.compile(r"(?<![A-Za-z0-9])[a-jA-J]{4,}(?![A-Za-z0-9])")
HEX_RUN = re.compile(r"[0-9a-fA-F]{8,}")
# What separates fields in a row's text; '*' and the like are not, so a
# mask's stars keep the digits they hide apart.
SEPARATORS = re.compile(r"[\s'\",()|\[\]{}:;\\]+")


def secret_forms(values, min_len=3):
    """The strings from which one of values can be rebuilt (values shorter
    than min_len are skipped; forms shorter than 4 or with a '*' are too
    weak as evidence)."""
    out = set()
    for v in values:
        if v is None or len(v) < min_len:
            continue
        out.add(v)
        out.add(v[::-1])
        out.add(base64.b64encode(v.encode()).decode().rstrip("="))
        out.add(v.encode().hex())
        out.add(v.translate(DIGITS_TO_LETTERS))
    return {s.lower() for s in out if len(s) >= 4 and "*" not in s}


def card_hidden(card, keep=4):
    """What `partial keep N` hides of a card number, and its first half
    (enough, with the visible last digits, to narrow it down)."""
    c = card.replace(" ", "").replace("-", "")
    out = [card[:-keep] if len(card) > keep else card]
    if len(c) >= 16:
        out.append(c[:8])
    return out


def email_hidden(email):
    """What `email-domain` hides: the local part."""
    return [email.split("@")[0]]


def _text_of(x, out):
    """Flattens data into out (a list of strings, one per field)."""
    if x is None:
        return
    if isinstance(x, (bytes, bytearray, memoryview)):
        b = bytes(x)
        out.append(b.decode("utf-8", "replace"))
        out.append(b.decode("latin-1"))
        if len(b) == 8:
            out.append(str(struct.unpack("!q", b)[0]))
        elif len(b) == 4:
            out.append(str(struct.unpack("!i", b)[0]))
        return
    if isinstance(x, (list, tuple, set)):
        for y in x:
            _text_of(y, out)
        return
    if isinstance(x, dict):
        for k, v in x.items():
            _text_of(k, out)
            _text_of(v, out)
        return
    out.append(str(x))


def _decodings(text):
    """(how, text) for the text and what it decodes to."""
    yield "as is", text
    yield "reversed", text[::-1]
    # Runs of the letters a-j only (translate's output), not words and
    # hex that happen to hold some.
    runs = LETTER_RUN.findall(text)
    if runs:
        yield "digits from letters", "\n".join(r.lower().translate(LETTERS_TO_DIGITS)
                                              for r in runs)
    dec = []
    for m in B64_RUN.finditer(text):
        s = m.group(0).rstrip("=")
        for skip in range(4):  # a run may start inside a larger value
            t = s[skip:]
            t = t[:len(t) - len(t) % 4] if len(t) % 4 == 1 else t
            try:
                dec.append(base64.b64decode(t + "=" * (-len(t) % 4)).decode("utf-8", "replace"))
            except (binascii.Error, ValueError):
                pass
    for m in B64URL_RUN.finditer(text):
        t = m.group(0)
        try:
            dec.append(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))
                       .decode("utf-8", "replace"))
        except (binascii.Error, ValueError):
            pass
    if dec:
        yield "base64-decoded", "\n".join(dec)
    dec = []
    for m in HEX_RUN.finditer(text):
        s = m.group(0)
        for skip in (0, 1):
            t = s[skip:]
            t = t[:len(t) - len(t) % 2]
            dec.append(bytes.fromhex(t).decode("utf-8", "replace"))
    if dec:
        yield "hex-decoded", "\n".join(dec)


class Leaks:
    """hidden: what masking hides (card_hidden, email_hidden, whole
    values); raw: whole raw values, whose hashes (md5, sha1, sha256 hex)
    are evidence too (a hash of a card number is brute-forced offline)."""

    def __init__(self, hidden, raw=(), min_len=3):
        self.hidden = [h for h in hidden if h is not None]
        self.forms = secret_forms(self.hidden, min_len)
        for v in raw:
            if v is not None and len(v) >= min_len:
                for h in (hashlib.md5, hashlib.sha1, hashlib.sha256):
                    self.forms.add(h(v.encode()).hexdigest())

    def texts(self, data):
        """(how, text) views of data: every field, the whole, and each
        row's fields joined."""
        if isinstance(data, (str, bytes, bytearray)):
            data = [data]
        fields = []
        _text_of(data, fields)
        whole = "\n".join(fields)
        yield "", whole
        joined = []
        for row in data if isinstance(data, (list, tuple)) else [data]:
            parts = []
            _text_of(row, parts)
            joined.append(SEPARATORS.sub("", "".join(parts)))
        yield "joined fields of a row, ", "\n".join(joined)
        # A whole text (COPY, notices): its lines' fields joined, too.
        yield "joined fields of a line, ", SEPARATORS.sub("", whole.replace("\n", "\x00"))

    def find(self, data):
        for where, text in self.texts(data):
            # Joining fields makes new neighbours: only long forms there.
            forms = self.forms if not where else {s for s in self.forms if len(s) >= 8}
            for how, t in _decodings(text):
                low = t.lower()
                for s in forms:
                    if s in low:
                        return s, where + how
        return None

    def assert_no_leak(self, tc, what, data):
        hit = self.find(data)
        if hit is not None:
            tc.fail("%s leaks %r (%s): %s" % (what, hit[0], hit[1], repr(data)[:600]))
