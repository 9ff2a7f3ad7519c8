"""How well and how fast `ivr_flows.understanding` reads the sentence corpus.

    .venv/bin/python -m bench.understanding_accuracy [--repeat 20] [--wrong]

Prints, over every sentence of tests/data/utterances.tsv (known misses included): the accuracy
of each slot (intent; office, and whether the parser was right to be sure of it or to read it
back; date; part of day; field; procedure), the share of sentences with every slot right, the
share of fully specified bookings (office, date and part said) parsed exactly (the issue's
target: at least 95 %), and the time to parse one sentence (median, 95th percentile and the
slowest, over `--repeat` passes of the whole corpus, the first one untimed to fill the caches).
`--wrong` lists the sentences with a slot wrong.
"""

from __future__ import annotations

import argparse
import statistics
import time

from ivr_flows.understanding import understand
from tests.data.understanding_corpus import OFFICES, PROCEDURES, load, slots_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--wrong", action="store_true")
    args = parser.parse_args()
    corpus = load()
    results = [understand(u.text, today=u.today, offices=OFFICES, procedures=PROCEDURES) for u in corpus]

    slots = list(slots_of(results[0]))
    print(f"{len(corpus)} sentences, {sum(u.fully_specified for u in corpus)} fully specified bookings, "
          f"{sum(1 for u in corpus if u.miss)} known misses; {len(OFFICES)} offices, {len(PROCEDURES)} procedures")
    print(f"{'slot':<12} {'right':>7} {'accuracy':>9}")
    for slot in slots:
        right = sum(1 for u, got in zip(corpus, results, strict=True) if slot not in u.wrong(got))
        print(f"{slot:<12} {right:>7} {right / len(corpus):>9.1%}")
    exact = [not u.wrong(got) for u, got in zip(corpus, results, strict=True)]
    full = [ok for u, ok in zip(corpus, exact, strict=True) if u.fully_specified]
    print(f"{'all slots':<12} {sum(exact):>7} {sum(exact) / len(corpus):>9.1%}")
    print(f"fully specified bookings parsed exactly: {sum(full)}/{len(full)} = {sum(full) / len(full):.1%} "
          f"(target >= 95 %)")

    timings: list[float] = []
    for n in range(args.repeat + 1):
        for u in corpus:
            start = time.perf_counter()
            understand(u.text, today=u.today, offices=OFFICES, procedures=PROCEDURES)
            if n:
                timings.append(time.perf_counter() - start)
    timings.sort()
    ms = [t * 1000 for t in timings]
    print(f"parse time per sentence over {len(ms)} parses: median {statistics.median(ms):.2f} ms, "
          f"p95 {ms[int(len(ms) * 0.95)]:.2f} ms, max {ms[-1]:.2f} ms")

    if args.wrong:
        for u, got in zip(corpus, results, strict=True):
            if u.wrong(got):
                print(f"line {u.line}: {u.text!r}: {u.wrong(got)}" + (f" ({u.miss})" if u.miss else ""))


if __name__ == "__main__":
    main()
