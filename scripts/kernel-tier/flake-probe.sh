#!/bin/sh
# The kernel tier's flake probe: boots one kernel with multi-threaded TCG (QEMU's default, `-accel tcg`)
# and with the tier's `-accel tcg,thread=single`, and runs the same Node workload RUNS times in each: the
# receiver's `--help` from the image tree (it loads the whole module graph, as a receiver start does; where
# the receivers went silent or died of SIGSEGV) beside a JIT-heavy loop (V8 writes code on one vCPU and runs
# it on another). Prints how many runs crashed (signal) or hung (no exit in 120 s).
# Usage: scripts/kernel-tier/flake-probe.sh [SERIES [RUNS]]     (default 6.12 10)
set -eu
cd "$(dirname "$0")/../.."
SERIES=${1:-6.12}
RUNS=${2:-10}
CACHE=${OOMKILL_KERNEL_TIER_CACHE:-/var/cache/oomkill-kernel-tier}
NODE="$(pwd)/node_modules/.bin/node"
HELP="$CACHE/image-tree/dist/main.js"
[ -f "$HELP" ] || { echo "flake-probe: no $HELP (run run.sh once: it builds the image tree)" >&2; exit 2; }
WORKLOAD='let s=0; for (let i=0;i<3e6;i++){ s+=[i,i*2].map((x)=>x^i).reduce((a,b)=>a+b,0) } const f=new Function("a","return a+"+s%7); console.log(f(1))'
for accel in tcg tcg,thread=single; do
	out=$(mktemp -d "$CACHE/flake-probe.XXXXXX")
	script="ok=0; crashed=0; hung=0; for i in \$(seq $RUNS); do timeout 120 '$NODE' -e '$WORKLOAD' >/dev/null 2>/tmp/a.err & a=\$!; timeout 120 '$NODE' '$HELP' --help >/dev/null 2>/tmp/b.err; b=\$?; wait \$a; a=\$?; for s in \$a \$b; do case \$s in 0) ok=\$((ok+1));; 124) hung=\$((hung+1));; *) crashed=\$((crashed+1)); echo \"run \$i: exit \$s\"; tail -n 3 /tmp/a.err /tmp/b.err | sed \"s/^/run \$i:   /\";; esac; done; done; echo \"flake-probe: $accel: \$ok ok, \$crashed crashed, \$hung hung of \$(($RUNS*2))\""
	OOMKILL_KERNEL_TIER_ACCEL=$accel scripts/kernel-tier/boot.sh "$SERIES" "$out" 3600 / sh -c "$script" >/dev/null || true
	grep -a -E '^(flake-probe|run )' "$out/console.log" | tr -d '\r'
	rm -rf "$out"
done
