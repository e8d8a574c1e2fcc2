# One line per event on the console: "dta: <event> key=value ...". The host's emulator and the
# serial tools parse these lines; secrets never appear in them.


# With config "memory_trace" (the bench), every line also says the heap in use after a
# collection: mem=<bytes>, and the most seen so far: peak=<bytes>.
trace = False
_peak = [0]


def say(event, **fields):
    if trace:
        import gc
        gc.collect()
        used = gc.mem_alloc()
        _peak[0] = max(_peak[0], used)
        fields["mem"] = used
        fields["peak"] = _peak[0]
    parts = ["dta:", event]
    for k in sorted(fields):
        parts.append("%s=%s" % (k, fields[k]))
    print(" ".join(parts))
