"""`epaxdb sim`: run the deterministic simulator over a range of seeds.

    epaxdb sim --replicas 5 --seeds 1000 --faults heavy
    epaxdb sim --replicas 5 --seed 417 --faults heavy      # replay one seed

Prints a summary; on any invariant violation prints the first failure in full (seed,
replay command, trace) and one line per failing seed, and exits with status 1.
"""

from __future__ import annotations

import argparse
import sys

from epaxdb.replica import MUTATIONS
from epaxdb.sim.faults import PRESETS
from epaxdb.sim.simulator import DEFAULT_COMMANDS, SimSettings
from epaxdb.sim.sweep import SweepSummary, run_seeds


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="run the deterministic cluster simulator over many seeds",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--replicas", type=int, default=3, choices=(3, 5, 7))
    parser.add_argument("--seeds", type=int, default=100, help="how many seeds (default 100)")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed of the range")
    parser.add_argument("--seed", type=int, help="run exactly this seed (replay)")
    parser.add_argument("--faults", choices=PRESETS, default="heavy")
    parser.add_argument("--commands", type=int, default=DEFAULT_COMMANDS, help="per seed")
    parser.add_argument(
        "--conflict", type=float, metavar="PCT", help="percent of keys on the hot key (drawn)"
    )
    parser.add_argument("--fast-failures", type=int, metavar="E", help="e (default per size)")
    parser.add_argument("--mutation", choices=sorted(MUTATIONS), help="reintroduce a known bug")
    parser.add_argument(
        "--protocol",
        choices=("epaxos", "multipaxos"),
        default="epaxos",
        help="multipaxos: the baseline mode with one stable leader (replica 0)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.conflict is not None and not 0 <= args.conflict <= 100:
        print("epaxdb sim: --conflict must be a percentage in 0..100", file=sys.stderr)
        return 2
    settings = SimSettings(
        replicas=args.replicas,
        faults=args.faults,
        commands=args.commands,
        conflict=None if args.conflict is None else args.conflict / 100,
        fast_failures=args.fast_failures,
        mutation=args.mutation,
        protocol=args.protocol,
    )
    if args.seed is not None:
        seeds = range(args.seed, args.seed + 1)
    else:
        seeds = range(args.first_seed, args.first_seed + args.seeds)
    step = max(1, len(seeds) // 10)

    def progress(summary: SweepSummary) -> None:
        if len(seeds) >= 100 and summary.seeds % step == 0 and summary.seeds < len(seeds):
            print(
                f"  {summary.seeds}/{len(seeds)} seeds, {len(summary.failures)} failing, "
                f"{summary.wall_s:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    summary = run_seeds(settings, seeds, jobs=args.jobs, progress=progress)
    _print_summary(settings, seeds, summary)
    return 1 if summary.failures else 0


def _print_summary(settings: SimSettings, seeds: range, summary: SweepSummary) -> None:
    if summary.failures:
        print(summary.failures[0].report)
        print()
    mix = ", ".join(f"{name} {count}" for name, count in summary.messages.most_common())
    decided = summary.fast_commits + summary.slow_commits
    print(
        f"replicas {settings.replicas}, faults {settings.faults}, seeds {seeds.start}..{seeds.stop - 1}"
    )
    print(f"seeds run:            {summary.seeds}")
    print(f"commands:             {summary.commands} ({summary.answered} answered)")
    print(f"fast-path share:      {summary.fast_path_share:.1%} of {decided} owner decisions")
    print(f"recoveries started:   {summary.recoveries} ({summary.nops} NOPs committed)")
    print(f"faults injected:      {summary.crashes} crashes, {summary.partitions} partitions")
    print(f"messages sent:        {sum(summary.messages.values())} ({mix})")
    print(f"virtual time:         {summary.virtual_ms / 1000:.1f} s")
    print(f"invariant violations: {len(summary.failures)}")
    print(f"wall time:            {summary.wall_s:.1f} s")
    for failure in summary.failures:
        print(f"FAILED seed {failure.seed} ({failure.invariant}): {failure.replay}")
