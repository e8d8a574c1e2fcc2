# One line per event on the console: "dta: <event> key=value ...". The host's emulator and the
# serial tools parse these lines; secrets never appear in them.


def say(event, **fields):
    parts = ["dta:", event]
    for k in sorted(fields):
        parts.append("%s=%s" % (k, fields[k]))
    print(" ".join(parts))
