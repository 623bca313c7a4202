# Exposition inputs for the Prometheus 2.42 compatibility table (compat_cases.h): (format, body).
# (format, body) cases for a differential check against Prometheus 2.42's scraper
T, O = 'text', 'om'
cases = [
 (T, b"-1 2\n"), (T, b'm{1="a"} 1\n'), (T, b'a 1\nm{a="b",,} 1\n'), (T, b'm{a "b"} 1\n'), (T, b'm{a=b} 1\n'),
 (T, b'm{a="b} 1\n'), (T, b'm{a="b\\\n"} 1\n'), (T, b'm{a="\xff"} 1\n'), (T, b'm{a="\xed\xa0\x80"} 1\n'), (T, b"m\n"),
 (T, b"m"), (T, b'm{a="b"}{} 1\n'), (T, b"m abc\n"), (T, b"m 0x1p3\n"), (T, b"m 1_000\n"), (T, b"m 0x10\n"),
 (T, b"m 1e400\n"), (T, b"m +NaN\n"), (T, b"m 1 -5\n"), (T, b"m 1 1.5\n"), (T, b"m 1 2 3\n"),
 (T, b"m 1 99999999999999999999\n"), (T, b"m 1\r\n"), (T, b"# TYPE m countr\n"), (T, b"# TYPE m counter \n"),
 (T, b"# TYPE m gaugehistogram\n"), (T, b"# HELP 9m x\n"), (T, b"# TYPE \n"), (T, b"# HELP m \xc3\x28\n"),
 (T, b'ok 1\nok 2\n\nm{a="1\nb"} 1 x\n'), (T, b'm{a="b" c} 1\n'),
 # valid text quirks
 (T, b'  \t\n\t m { a = "1" , b="2", } \t 3 \t 4 \t\nm{a="1" b="2"} 5\nm{} 6\nm+7\nm{a="x"}8\n'),
 (T, b'm{a="q\\"b\\\\s\\nn",b="plain",c="\\t kept"} 1\n# HELP m help with \\\\ and \\n and \\" kept\nm{a="line1\nline2"} 2\n'),
 (T, b"a NaN\nb nan\nc +Inf\nd -Inf\ne inf\nf Infinity\ng -infinity\nh 1e308\ni -0\nj 4.9e-324\nk 1e-400\nl .5\nm 5.\nn +1.5E-3\no 00012\n"),
 (T, b"# HELP\n# HELP a\n# HELP b \n# HELP c  two blanks\n#\tTYPE d untyped\n# TYPE e summary\n#HELP f x\n# other\nx 1\n"),
 (T, b"# HELP x \xff\xfe\nx 1\n"), (T, b"x 1 +5\n"), (T, b"x 1e\n"), (T, b"x .\n"), (T, b"x 1.\n"), (T, b"x infin\n"),
 (T, b"x 1}\n"), (T, b"x{a=\"1\"} 1 2 # c\n"), (T, b"# TYPE x counter\n# TYPE x gauge\nx 1\n"),
 (T, b"x{__name__=\"y\"} 1\n"), (T, b"x{a=\"1\",a=\"2\"} 1\n"), (T, b"x{a=\"\\q\"} 1\n"), (T, b"\xef\xbb\xbfx 1\n"),
 (T, b"x 1\n\x00"), (T, b"x{a=\"\x00\"} 1\n"), (T, b"x 0x1P3\n"), (T, b"x -0x10\n"), (T, b"x 1E+3\n"), (T, b"x 1e-3 12\n"),
 # OpenMetrics
 (O, b"a 1\n"), (O, b""), (O, b"a 1"), (O, b"# EOF\n\n"), (O, b"# EOF\na 1\n"), (O, b"# EOFx\n"), (O, b"a 1\n\n# EOF\n"),
 (O, b" a 1\n# EOF\n"), (O, b"# comment\n# EOF\n"), (O, b"a  1\n# EOF\n"), (O, b'a{b="c" } 1\n# EOF\n'),
 (O, b'a{ b="c"} 1\n# EOF\n'), (O, b'a{b="c\nd"} 1\n# EOF\n'), (O, b"a 1 2 3\n# EOF\n"), (O, b"a 1 NaN\n# EOF\n"),
 (O, b"a 1  2\n# EOF\n"), (O, b'a 1 # {x="y"}\n# EOF\n'), (O, b'a 1 # {x="y"} 1 2 3\n# EOF\n'),
 (O, b'a 1 # {x="y"} 1 Inf\n# EOF\n'), (O, b"a 1 # {x} 1\n# EOF\n"), (O, b"# TYPE a untyped\n# EOF\n"),
 (O, b"# HELP a\n# EOF\n"), (O, b"# UNIT a_bytes seconds\n# EOF\n"), (O, b"# UNIT seconds seconds\n# EOF\n"),
 (O, b"# HELP a b"), (O, b"a 1\n# EOF"), (O, b"# EOF"),
 (O, b'# TYPE http_requests counter\n# HELP http_requests Requests \\"served\\" \\\\ ok\\n.\nhttp_requests_total{code="200"} 1027 1395066363.000 # {trace_id="KOO5S4vxi0o"} 0.67 1395066363.5\nhttp_requests_total{code="400"} 3 # {} 1\nhttp_requests_created{code="200"} 1395066363.5\n# TYPE request_seconds histogram\n# UNIT request_seconds seconds\nrequest_seconds_bucket{le="0.5",} 1 # {a="b",c="d"} 0.2\nrequest_seconds_bucket{le="+Inf"} 2\nrequest_seconds_count 2\nrequest_seconds_sum 0.7\n# TYPE temp gauge\n# UNIT temp \ntemp -1.5 -3.25\n# EOF\n'),
 (O, b"a 1 1e400\n# EOF\n"), (O, b"a{b=\"\xff\"} 1\n# EOF\n"), (O, b"a 1 # {b=\"c\"} 1 2 # x\n# EOF\n"), (O, b"a\t1\n# EOF\n"),
 (O, b"# TYPE a stateset\na{a=\"x\"} 1\n# EOF\n"), (O, b"a{} 1\n# EOF\n"), (O, b"a 1 1.5e9\n# EOF\n"),

 (T, b'm { a = "1" , b="2", } \t 3 \t 4 \t\n'), (T, b'm{a="1",} 1\n'), (T, b'm{a="1" b="2"} 5\n'), (T, b"m{} 6\n"),
 (T, b"m+7\n"), (T, b'm{a="x"}8\n'), (T, b" m 1\n"), (T, b"  # HELP m x\nm 1\n"), (T, b"m 1 \n"), (T, b"m\t1\n"),
 (T, b"\t\n \nm 1\n"), (T, b"m{,} 1\n"), (T, b'm{a="1",,b="2"} 1\n'), (T, b"\x00\nm 1\n"), (T, b"m 1\n \x00\nn 2\n"),
 (T, b'm{a="1"}\n'), (T, b'm {a="1"} 1\n'), (T, b'm{a="1"} 1 2\n'),
 (O, b'a{b="c",} 1\n# EOF\n'), (O, b'a{b="c",d="e"} 1\n# EOF\n'), (O, b'a{,} 1\n# EOF\n'), (O, b'a 1 # {b="c",} 1\n# EOF\n'),
 (O, b'a 1 # {} 1\n# EOF\n'), (O, b'a{b="c"}1\n# EOF\n'), (O, b"a 1 1\n# EOF\n"), (O, b'a 1 # {b="c"} 1 1\n# EOF\n'),
 (O, b'a_total 1 # {b="c",} 1\n# EOF\n'), (O, b'a_total 1 # {} 1\n# EOF\n'), (O, b'a_bucket{le="1"} 1 # {x="y"} 1 1\n# EOF\n'),
 (O, b'a_total{x="y"} 1 # {t="v"} 3\n# EOF\n'), (T, b"\t\x00\nm 1\n"), (T, b"m{a=\"1\"}\x00 1\n"), (O, b"\x00\n# EOF\n"),
]
