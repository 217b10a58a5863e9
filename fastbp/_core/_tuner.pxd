# The thread tuner's interface for the epoch loop (_backprop.pyx): how many
# threads run a mini-batch's fixed parts, K or one, chosen by timing (see
# _tuner.pyx).

from libc.string cimport memset


cdef struct TunerMem:
    int mode                # 1: the team is K threads, 0: one thread
    int backoff, countdown  # windows until the next probe (backoff 0:
                            # nothing decided yet)
    double since, quiet     # seconds trained since the last probe, and how
                            # many must pass before the next one
    double rate[2]          # seconds per unit of work in the last window of
                            # each mode (0: not measured)
    bint probing            # the current window measures the other mode
    bint lost_once          # a probe lost since the last win, or since
                            # the class started (the next loss waits)
    double decided_at       # the monotonic clock's seconds when the last
                            # probe ended (0: none; STALE_S)
    bint refresh            # the incumbent's window was restarted, the
                            # decision being stale: a probe follows it
    bint switched           # the team just took over: its first
                            # mini-batch is not timed (WAKE_S's note)
    double skip_time, skip_work     # that batch (a lost probe's cost)
    double win_time, win_work   # the current window (carried over to the
    int win_batches             # next Trainer: fits can be shorter)


cdef struct Tuner:
    TunerMem s              # what it shares with its size class
    bint fixed              # never tune
    int key                 # its size class (-1: none yet)


cdef inline void tuner_init(Tuner* u, bint fixed) noexcept nogil:
    memset(u, 0, sizeof(Tuner))
    u.fixed = fixed
    u.s.mode = 1 if fixed else 0
    u.key = -1


cdef inline int tuner_team(const Tuner* u, int K) noexcept nogil:
    if K <= 1:
        return 1
    return K if u.s.mode == 1 else 1


cdef void tuner_bind(Tuner* u, double work, bint single) noexcept nogil
cdef void tuner_record(Tuner* u, double dt, double work, int K,
                       bint share=*, double wall=*) noexcept nogil
cdef void trace_batch(int team, double seconds) noexcept nogil
