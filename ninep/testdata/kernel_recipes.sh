# The shell recipes of the DataKit docs, run by the Linux kernel's 9p
# client (v9fs) against our server. Every check fails the script.
set -e
fail() { echo "FAIL: $*"; exit 1; }
B=branch
# The dialect: plain 9P2000 (shown as "noextend") has no symlinks.
echo "mount: $(grep ' /mnt ' /proc/mounts || true)"
LINKS=yes
if grep ' /mnt ' /proc/mounts | grep -q noextend; then LINKS=no; fi
test "$(ls)" = "$(printf 'branch\ncommits\ndebug\nremotes\nsnapshots\ntrees')" || fail "root listing: $(ls)"

# Create a branch and commit a file with a transaction.
mkdir $B/master
mkdir $B/master/transactions/t1
echo base > $B/master/transactions/t1/rw/a
mkdir $B/master/transactions/t1/rw/dir
echo sub > $B/master/transactions/t1/rw/dir/file
echo "first commit" > $B/master/transactions/t1/msg
echo commit > $B/master/transactions/t1/ctl
test ! -e $B/master/transactions/t1 || fail "transaction still there after commit"
H1=$(cat $B/master/head)
test ${#H1} = 40 || fail "head: $H1"
test "$(cat $B/master/ro/a)" = base || fail "ro/a"
test "$(cat $B/master/ro/dir/file)" = sub || fail "ro/dir/file"
test "$(cat snapshots/$H1/msg)" = "first commit" || fail "msg"

# Fork, rename, delete.
mkdir $B/dev
cp $B/master/head $B/dev/fast-forward
test "$(cat $B/dev/head)" = "$H1" || fail "fork"
mv $B/dev $B/feature
test "$(ls $B)" = "$(printf 'feature\nmaster')" || fail "rename: $(ls $B)"

# ctl, read back through the descriptor that committed, gives the new
# head, though the transaction's directory is gone by then (fstat works);
# the descriptor's offset is past the 7 bytes of "commit\n".
mkdir $B/master/transactions/t4
echo again > $B/master/transactions/t4/rw/dir/file
exec 3<>$B/master/transactions/t4/ctl
echo commit >&3
H4=$(cat <&3)
exec 3>&-
test "$H4" = "$(cut -c8- $B/master/head)" || fail "ctl after commit: '$H4'"

# A command that fails says why.
mkdir $B/master/transactions/t2
if echo bogus > $B/master/transactions/t2/ctl; then fail "bogus command accepted"; fi
grep -q 'error: Unknown command "bogus"' $B/master/transactions/t2/ctl || fail "ctl error text: $(cat $B/master/transactions/t2/ctl)"
echo close > $B/master/transactions/t2/ctl

# Merge with a conflict, resolve it from theirs/, commit.
mkdir $B/feature/transactions/f
echo theirs > $B/feature/transactions/f/rw/a
echo commit > $B/feature/transactions/f/ctl
mkdir $B/master/transactions/m
echo ours > $B/master/transactions/m/rw/a
cat $B/feature/head > $B/master/transactions/m/merge
test "$(cat $B/master/transactions/m/merge)" = ok || fail "merge result"
test "$(cat $B/master/transactions/m/conflicts)" = a || fail "conflicts"
grep -q 'Changed on both branches' $B/master/transactions/m/rw/a || fail "conflict marker"
if echo commit > $B/master/transactions/m/ctl; then fail "commit with conflicts accepted"; fi
grep -q 'conflicts file is not empty' $B/master/transactions/m/ctl || fail "conflict error text"
cp $B/master/transactions/m/theirs/a $B/master/transactions/m/rw/a
test -z "$(cat $B/master/transactions/m/conflicts)" || fail "conflicts not cleared"
echo commit > $B/master/transactions/m/ctl
test "$(cat $B/master/ro/a)" = theirs || fail "merged content"
rmdir $B/feature
test "$(ls $B)" = master || fail "delete: $(ls $B)"

# Watches and head.live.
head -n1 $B/master/watch/a.node/tree.live | grep -q '^F-' || fail "watch a"
head -n1 $B/master/watch/tree.live | grep -q '^D-' || fail "watch root"
test "$(ls $B/master/watch)" = "$(printf 'a.node\ndir.node\ntree.live')" || fail "watch listing"
(head -n 2 $B/master/head.live > /tmp/live.txt) &
sleep 1
mkdir $B/master/transactions/t3
echo x > $B/master/transactions/t3/rw/x
chmod +x $B/master/transactions/t3/rw/x
if [ $LINKS = yes ]; then ln -s a $B/master/transactions/t3/rw/link; fi
echo commit > $B/master/transactions/t3/ctl
wait
test "$(tail -n1 /tmp/live.txt)" = "$(cat $B/master/head)" || fail "head.live: $(cat /tmp/live.txt)"
test -x $B/master/ro/x || fail "exec bit"
if [ $LINKS = yes ]; then test "$(readlink $B/master/ro/link)" = a || fail "symlink"; fi

# Snapshots, commits, debug.
H=$(cat $B/master/head)
ls snapshots/$H/ro | grep -q x || fail "snapshot ro"
grep -q "\"id\": \"$H\"" commits/$H || fail "commits json"
test "$(cat debug/src/datakit/level)" = warning || fail "level"
echo debug > debug/src/datakit/level
test "$(cat debug/src/datakit/level)" = debug || fail "set level"
echo "ALL OK"
