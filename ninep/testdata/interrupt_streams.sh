# Interrupting readers of stream files, run in the mount (by the kernel's
# 9p client in linux9p's VM, or through `datakit mount`): a `cat` blocked
# on a stream ends within 2 s of `kill`, no commit is made meanwhile, and
# the mount works afterwards. Every check fails the script.
set -e
fail() { echo "FAIL: $*"; exit 1; }
B=branch
T=$(mktemp -d)
echo "mount: $(grep ' /mnt ' /proc/mounts || true)"

mkdir $B/master
mkdir $B/master/transactions/t1
echo one > $B/master/transactions/t1/rw/a
echo commit > $B/master/transactions/t1/ctl
H=$(cat $B/master/head)
test ${#H} = 40 || fail "head: $H"
mkdir remotes/origin

# interrupt FILE: cat FILE, kill it after a second; it must be gone 2 s
# later. If not, a watchdog notes it and commits, which ends a read of a
# branch's stream (a remote's head would wait for the run's time limit).
interrupt() {
	rm -f $T/late $T/out
	cat "$1" > $T/out &
	pid=$!
	sleep 1
	kill $pid || fail "cat $1 ended by itself: $(cat $T/out)"
	(
		sleep 2
		if kill -0 $pid 2>/dev/null; then
			touch $T/late
			mkdir $B/master/transactions/dog
			echo dog > $B/master/transactions/dog/rw/dog
			echo commit > $B/master/transactions/dog/ctl
		fi
	) &
	dog=$!
	wait $pid || true
	kill $dog 2>/dev/null || true
	wait $dog 2>/dev/null || true
	test ! -e $T/late || fail "cat $1 still ran 2 s after kill"
	test "$(cat $B/master/head)" = "$H" || fail "$1: a commit was made"
	echo "ok: $1"
}

interrupt $B/master/head.live
interrupt $B/master/reflog
interrupt $B/master/watch/tree.live
interrupt $B/master/watch/a.node/tree.live
interrupt $B/.changes
interrupt remotes/origin/head

# The streams' first lines were read before the kill.
interrupt $B/master/head.live
test "$(cat $T/out)" = "$H" || fail "head.live gave '$(cat $T/out)'"

# The mount works afterwards: read, commit, and a new reader sees it.
test "$(cat $B/master/ro/a)" = one || fail "ro/a"
mkdir $B/master/transactions/t2
echo two > $B/master/transactions/t2/rw/a
echo commit > $B/master/transactions/t2/ctl
H2=$(cat $B/master/head)
test "$H2" != "$H" || fail "commit after the interrupts"
test "$(head -n1 $B/master/head.live)" = "$H2" || fail "head.live after the commit"
test "$(cat $B/master/ro/a)" = two || fail "ro/a after the commit"
echo "ALL OK"
