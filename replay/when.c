#include "replay/when.h"

#include <stdio.h>
#include <string.h>

void
when_format(time_t t, long usec, char out[WHEN_LEN])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	char tmp[96];
	snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, usec % 1000000);
	snprintf(out, WHEN_LEN, "%.27s", tmp);
}

static int
when_digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Parses "HH:MM[:SS[.frac]]" at s; returns characters used or -1. */
static int
when_clock(const char *s, int *h, int *m, int *sec, long *usec, int *has_sec)
{
	int i = 0;
	*sec = 0;
	*usec = 0;
	*has_sec = 0;
	if (when_digits(s, 2, h) != 0 || s[2] != ':' || when_digits(s + 3, 2, m) != 0)
		return -1;
	i = 5;
	if (s[i] == ':') {
		if (when_digits(s + i + 1, 2, sec) != 0)
			return -1;
		*has_sec = 1;
		i += 3;
		if (s[i] == '.') {
			i++;
			long mult = 100000;
			int nd = 0;
			while (s[i] >= '0' && s[i] <= '9') {
				if (nd < 6)
					*usec += (s[i] - '0') * mult;
				mult /= 10;
				nd++;
				i++;
			}
			if (nd == 0)
				return -1;
		}
	}
	if (*h > 23 || *m > 59 || *sec > 60)
		return -1;
	return i;
}

int
when_parse(const char *s, time_t now, char out[WHEN_LEN], int *minute_only)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	int h = 0, m = 0, sec = 0, has_sec = 0, y, mo, d;
	long usec = 0;
	long off = 0;
	int n;
	*minute_only = 0;
	if (strlen(s) >= 10 && when_digits(s, 4, &y) == 0 && s[4] == '-' &&
	    when_digits(s + 5, 2, &mo) == 0 && s[7] == '-' &&
	    when_digits(s + 8, 2, &d) == 0) {
		const char *p = s + 10;
		if (*p == 'T' || *p == 't' || *p == ' ') {
			n = when_clock(p + 1, &h, &m, &sec, &usec, &has_sec);
			if (n < 0)
				return -1;
			p += 1 + n;
			*minute_only = !has_sec;
			if (*p == 'Z' || *p == 'z') {
				p++;
			} else if (*p == '+' || *p == '-') {
				int oh, om;
				if (when_digits(p + 1, 2, &oh) != 0 || p[3] != ':' ||
				    when_digits(p + 4, 2, &om) != 0)
					return -1;
				off = (oh * 60L + om) * 60L * (*p == '+' ? 1 : -1);
				p += 6;
			}
		}
		if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31)
			return -1;
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
	} else {
		n = when_clock(s, &h, &m, &sec, &usec, &has_sec);
		if (n < 0 || s[n] != '\0')
			return -1;
		*minute_only = !has_sec;
		gmtime_r(&now, &tm);
	}
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	time_t t = timegm(&tm) - off;
	when_format(t, usec, out);
	return 0;
}

int
when_at(const char *s, time_t now, char since[WHEN_LEN], char until[WHEN_LEN])
{
	char mid[WHEN_LEN];
	int minute_only;
	if (when_parse(s, now, mid, &minute_only) != 0)
		return -1;
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	sscanf(mid, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (minute_only)
		tm.tm_sec = 0;
	time_t t = timegm(&tm);
	when_format(t - 60, 0, since);
	when_format(t + (minute_only ? 119 : 60), 999999, until);
	return 0;
}

/* Days from 1970-01-01 to the first of month mon (1 to 12) of year y
 * (1970 or later), as timegm counts them. */
static int64_t
when_days(int y, int mon)
{
	static const int before[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273,
	    304, 334 };
	int64_t py = y - 1;
	int64_t leaps = py / 4 - py / 100 + py / 400 - (1969 / 4 - 1969 / 100 + 1969 / 400);
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return (int64_t)(y - 1970) * 365 + leaps + before[mon - 1] + (mon > 2 && leap);
}

int64_t
when_ms(const char *ts)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	int us;
	if (when_digits(ts, 4, &tm.tm_year) != 0 || when_digits(ts + 5, 2, &tm.tm_mon) != 0 ||
	    when_digits(ts + 8, 2, &tm.tm_mday) != 0 ||
	    when_digits(ts + 11, 2, &tm.tm_hour) != 0 ||
	    when_digits(ts + 14, 2, &tm.tm_min) != 0 ||
	    when_digits(ts + 17, 2, &tm.tm_sec) != 0 ||
	    when_digits(ts + 20, 6, &us) != 0)
		return -1;
	/* Export asks for every record: counted here (timegm is slow); it
	 * adds days, hours, minutes and seconds as they are, out of range or
	 * not, so only the month must be one. */
	if (tm.tm_year >= 1970 && tm.tm_mon >= 1 && tm.tm_mon <= 12) {
		int64_t days = when_days(tm.tm_year, tm.tm_mon) + tm.tm_mday - 1;
		int64_t s = days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
		return s * 1000 + us / 1000;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + us / 1000;
}
