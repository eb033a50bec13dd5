# A pre-fork server in miniature: the parent builds a large structure, then forks workers
# that inherit it. On SIGUSR1 each worker does its job once:
#   idle   nothing
#   gc     gc.collect(): a full collection visits every object the collector tracks
#   touch  reads every record and every value in it, changing none of them
# then tells the parent, which prints "acted" when all have.
#
#   python3 prefork.py [--freeze]     N=300000 records by default (environment N)
#
# --freeze calls gc.freeze() right before fork, as the gc module's documentation advises.
import ctypes, gc, os, signal, sys

N = int(os.environ.get("N", "300000"))
ROLES = ["idle", "gc", "touch"]

records = [{"id": i, "name": "record-%d" % i, "tags": [i % 7]} for i in range(N)]
if "--freeze" in sys.argv:
    gc.freeze()
libc = ctypes.CDLL(None, use_errno=True)
done_r, done_w = os.pipe()
print("parent %d: %d records" % (os.getpid(), N), flush=True)

workers = []
for role in ROLES:
    pid = os.fork()
    if pid == 0:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the parent
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
        signal.sigwait([signal.SIGUSR1])
        if role == "gc":
            gc.collect()
        elif role == "touch":
            for r in records:
                for v in r.values():
                    pass
        os.write(done_w, b"x")
        signal.pause()
        os._exit(0)
    print("worker %d %s" % (pid, role), flush=True)
    workers.append(pid)

def act(signum, frame):  # SIGUSR1: every worker does its job once
    for pid in workers:
        os.kill(pid, signal.SIGUSR1)
    for _ in workers:
        os.read(done_r, 1)
    print("acted", flush=True)

signal.signal(signal.SIGUSR1, act)
print("ready", flush=True)
while True:
    signal.pause()
