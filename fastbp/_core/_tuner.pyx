# cython: language_level=3
"""How many threads run a mini-batch's parts: the thread tuner.

Design
------
A mini-batch's parallel steps are cut into K parts fixed by the problem and
the requested thread count (``_backprop.pyx``, "Running a mini-batch"), and
partial sums are added in part order, so the team of threads that runs the
parts (K or one) changes no bit of the result. On a busy machine every
parallel region's barrier waits for a descheduled thread for a whole time
slice (several ms, against a mini-batch of tens of us). The tuner times
windows of mini-batches with the team at K and at one thread, keeps the
faster, and re-measures the other from time to time (with exponential
backoff, so the probes cost little): an idle machine keeps its threads, a
loaded one falls back to one thread and back again when the load goes.

The structs and the two per-batch inline helpers are in ``_tuner.pxd``; the
functions whose names start with an underscore are hooks for tests.
"""

import time

import numpy as np

from libc.math cimport fmax
from libc.string cimport memset


# The tuner's decisions are process-wide, one per size class of mini-batch
# (the log2 of its work, and its dtype): a new Trainer (the next fit, the
# next partial_fit, the next candidate of a search) of a size seen before
# starts from the mode, rates and probe schedule the last one left, so that
# fit after fit on a busy machine does not pay the exploration again, while
# its probes still notice when the load goes. Sizes differ in what wins
# (one thread can win a tiny network on an idle machine while the team wins
# a large one), so a size class not seen yet starts on one thread and
# measures the team after its first window: on an idle machine that first
# window costs a few ms once, while a first window on the team of a loaded
# machine would cost whole time slices.
#
# What a probe may cost is bounded: a probe that is clearly losing (2x
# the incumbent, 1.4x once it has run WINDOW_S) ends after one mini-batch,
# a probe of one thread ends as soon as it is 1.4x slower (1.2x after
# three mini-batches), the windows
# between probes grow 4x after each lost probe or clear win (to 256), and
# the next probe waits for at least QUIET_FACTOR times the seconds the lost
# one cost (a class's first loss in its short windows is tried again
# instead: see QUIET_FACTOR), so that exploring stays a few percent of the
# time however slow a team batch is on a loaded machine. An incumbent team that becomes 1.5x
# slower than it was (the load came) is re-measured against one thread at
# once, and, the waits after lost probes aside, no decision goes unchecked
# for more than MAX_GAP_S seconds of training, nor, after a pause, for
# more than STALE_S seconds by the clock (or the wait, where longer).
cdef enum:
    N_SIZE_CLASSES = 128
# Every lost probe waits QUIET_FACTOR times its cost, except the first
# loss in a class's short windows (its first windows, see WINDOW_S_FIRST,
# or those after a narrow win), which is tried again after one more short
# window. One probe can meet a one-off stall that says nothing
# of the load: right after a 60000 x 784 dataset was generated, the first
# team batch of a fresh process took 60-64 ms against 0.5 (the other core
# busy, most likely with the kernel's freeing of the generator's
# temporaries; none after a 1 s pause), and the 30x wait after it kept
# the bench's 784-256-128 fits on one thread, 1.7x slower, for 2 s of
# training; on scikit-learn's digits a first probe that met a woken
# thread's stall left 6 of the bench's 15 timed fits on one thread while
# the backoff of 4 windows ran out (run l, benchmarks/results/README.md).
# On a loaded machine the second probe loses too: a short fit pays two
# probes (test_tuner_probes_cost_a_bounded_share_of_the_time).
cdef double QUIET_FACTOR = 30.0
# A probe this many times slower than the incumbent has lost (a core is
# taken: a time slice per barrier). A lower bound mistakes noise for load:
# on a machine shared with other work a window of 5 ms varies by 1.5x.
cdef double LOSING = 2.0
# ... and once it has run WINDOW_S or longer (a large network's mini-batch
# alone: about 25 ms for 784-1024-1024 at batch 256), this many times: long
# windows vary less, and a one-thread probe of a 2-thread team that ran its
# whole window of 3 such batches would cost 5-8% of an idle fit, one thread
# being 1.7-2.4x slower there (test_a_long_probe_that_is_losing_ends_after_
# one_batch in tests/test_parallel_parts.py). A probe of one thread uses
# this bound from its first batch on, however short: misjudged, it leaves
# the team in place, whose own slowing is watched (SLOWED, MAX_GAP_S),
# while a full window of it costs a short fit on an idle machine 8-10%
# (784-256-128 at batch 128: 20 ms at 1.9x the team's time, in fits of
# 80 ms; benchmarks/first_fits.py). A team probe keeps LOSING: misjudged,
# it leaves an idle machine on one thread until the next probe.
cdef double LOSING_LONG = 1.4
# ... and a probe of one thread that has run WINDOW_BATCHES mini-batches,
# this many times: on a small network one thread is only a little slower
# than the team (scikit-learn's digits at batch 200: 55 against 40 us a
# batch, 1.37x, under LOSING_LONG), and a probe run to the end of its
# window (20 ms) costs a 7 ms fit of 20 epochs a quarter of its batches
# on one thread (test_a_small_network_explores_little_in_its_first_timed_
# fit). Three batches keep a single noisy one from deciding; a misjudged
# probe leaves the team in place, whose slowing is watched.
cdef double LOSING_ONE = 1.2
# A team whose window is this many times slower than its last one is
# measured against one thread at once (the load came); and whatever the
# backoff, the other mode is measured again after MAX_GAP_S seconds of
# training (a large network's team can be 2x slower under load without
# any one window showing it; test_tuner_checks_every_decision_at_least_
# once_a_second).
cdef double SLOWED = 1.5
cdef double MAX_GAP_S = 1.0
# A window is at least this many mini-batches and seconds: shorter ones
# vary, on a machine shared with other work, by more than the gains the
# tuner looks for (test_tuner_switches_only_for_a_clear_gain).
cdef int WINDOW_BATCHES = 3
cdef double WINDOW_S = 0.02
# (the first windows of a size, until a clear win or a second lost probe,
# are shorter: WINDOW_BATCHES mini-batches or WINDOW_S_FIRST seconds,
# whichever comes first. On small networks 20 ms is a dozen epochs: with
# first windows of 1.5 ms, a fresh process's second and third one-epoch
# fits of scikit-learn's digits at batch 200 (9 batches of 55 us on one
# thread, 40 on the team) still ran on one thread and took 1.09-1.10x a
# fixed team's (benchmarks/first_fits.py --digits); windows of three
# batches let the first fit measure both. On large networks one one-thread batch is a window: three
# would cost a first fit 3% (784-1024-1024 at batch 256: 12.4 ms a batch
# on one thread, 6.4 on the team). A decision this quick can be wrong:
# later probes correct it, and a first lost probe is tried again after
# one more short window, for a short window ends where it may meet a
# stall, such as that of a thread woken after a pause on this VM (see
# QUIET_FACTOR).)
cdef double WINDOW_S_FIRST = 0.0015
# The first mini-batch after the team takes over from one thread is left
# out of the windows: it pays once for waking the team's threads, which
# slept through the one-thread batches (0.2-1 ms on a 2-core machine, at
# times more, where a digits batch takes 120-180 us on the team and 240 on
# one thread), not what the team's batches cost; timed, that batch alone
# would end a probe as "2x slower" (test_a_probe_of_the_team_is_not_judged_
# by_waking_its_threads). Its cost still counts in the wait after a lost
# probe (test_a_skipped_wake_up_still_counts_in_the_wait_after_a_lost_
# probe), and a first batch that takes WAKE_S more than a clearly lost one
# is timed: it lost a time slice, 3-4 ms, to a busy machine. Only a change
# of mode is skipped: the first team batch of a new Trainer (the next
# partial_fit) is timed, since a workload that pauses between calls pays
# the wake-up at every call.
cdef double WAKE_S = 0.001
# A decision made this many seconds ago by the clock (pauses included),
# and at least the wait after its lost probe (QUIET_FACTOR), is measured
# again once training resumes: a short window of the incumbent, leaving
# out the first batch after the pause (waking the threads), then a probe
# of the other mode. The backoff and the wait count seconds of training,
# and a process that trains in short fits with pauses between them (a
# search, a bench, a service) can go on for minutes on a decision made in
# another state of the machine. On this project's 2-core VM two threads
# give about one thread's throughput for stretches of 0.3-3 s (the host
# runs both vCPUs on one core: benchmarks/steadiness.py), and a fresh class
# whose first probes fell in such a stretch ran 12 of the bench's 15 timed
# digits fits on one thread (run n, benchmarks/results/README.md), the
# backoff counting the 10 ms of each fit. Counted from the decision and
# never before the wait after a lost probe has passed by the clock, these
# probes keep the bound on what exploring costs (test_a_stale_decision_is_
# measured_again_after_a_pause, test_tuner_probes_cost_a_bounded_share_of_
# the_time).
cdef double STALE_S = 2.0
cdef TunerMem _tuner_mem[N_SIZE_CLASSES]


cdef inline int size_class(double work, bint single) noexcept nogil:
    cdef int k = 0
    while work >= 2 and k < N_SIZE_CLASSES // 2 - 1:
        work *= 0.5
        k += 1
    return 2 * k + (1 if single else 0)


cdef inline void tuner_window_reset(Tuner* u) noexcept nogil:
    u.s.win_time = 0
    u.s.win_work = 0
    u.s.win_batches = 0


cdef void tuner_bind(Tuner* u, double work, bint single) noexcept nogil:
    """Join the size class of mini-batches of `work` (flops): start from its
    state, or on one thread when it has none."""
    cdef int key = size_class(work, single)
    if u.fixed or u.key == key:
        return
    u.key = key
    if _tuner_mem[key].backoff > 0 or _tuner_mem[key].win_batches > 0:
        u.s = _tuner_mem[key]
    else:
        memset(&u.s, 0, sizeof(TunerMem))   # one thread, explore at once


cdef inline void tuner_share(const Tuner* u) noexcept nogil:
    if u.key >= 0:
        _tuner_mem[u.key] = u.s


cdef void tuner_lost(Tuner* u, double excess) noexcept nogil:
    """The probe of the other mode lost, costing `excess` seconds: back to
    the incumbent, and wait longer before the next probe."""
    u.s.probing = False
    u.s.mode = 1 - u.s.mode
    u.s.switched = u.s.mode == 1
    # (a first loss in the short windows, a class's first or the first
    # since a narrow win, is tried again after one short window: see
    # QUIET_FACTOR)
    if u.s.backoff <= 1 and not u.s.lost_once:
        u.s.quiet = 0
        u.s.backoff = 1
    else:
        u.s.quiet = QUIET_FACTOR * excess
        u.s.backoff = u.s.backoff * 4 if u.s.backoff < 256 else 256
    u.s.lost_once = True
    u.s.countdown = u.s.backoff
    u.s.since = 0
    tuner_window_reset(u)


# The last mini-batches' (threads, seconds), for looking at the tuner.
cdef enum:
    TRACE_N = 4096
cdef double _trace_dt[TRACE_N]
cdef int _trace_team[TRACE_N]
cdef Py_ssize_t _trace_n = 0


def _batch_trace(bint clear=True):
    """(threads, seconds) of the mini-batches run since the last call (the
    first 4096), to look at the tuner's choices."""
    global _trace_n
    out = [(_trace_team[i], _trace_dt[i]) for i in range(min(_trace_n, TRACE_N))]
    if clear:
        _trace_n = 0
    return out


cdef void trace_batch(int team, double seconds) noexcept nogil:
    """Note one mini-batch for _batch_trace."""
    global _trace_n
    if _trace_n < TRACE_N:
        _trace_dt[_trace_n] = seconds
        _trace_team[_trace_n] = team
    _trace_n += 1


cdef inline double losing_time(const Tuner* u, double t, double work) noexcept nogil:
    """The time past which a probe that took `t` seconds for `work` has
    clearly lost to the incumbent."""
    if u.s.mode == 0 and u.s.win_batches >= WINDOW_BATCHES:
        return LOSING_ONE * u.s.rate[1] * work
    if t >= WINDOW_S or u.s.mode == 0:
        return LOSING_LONG * u.s.rate[1 - u.s.mode] * work
    return LOSING * u.s.rate[1 - u.s.mode] * work


cdef void tuner_record(Tuner* u, double dt, double work, int K,
                       bint share=True, double wall=0) noexcept nogil:
    """Account one mini-batch of `work` flops that took dt seconds; at the
    end of a window (at least WINDOW_BATCHES batches and WINDOW_S seconds;
    while the backoff is at most 1, WINDOW_BATCHES batches or WINDOW_S_FIRST
    seconds, whichever comes first, as after a stale decision),
    or a probe already LOSING times slower than the incumbent, LOSING_LONG
    times once it has run WINDOW_S or is a probe of one thread) choose the
    next mode. `wall` is the monotonic clock's time at the end of the batch
    (0: unknown, STALE_S is not applied)."""
    cdef double r, prev, window
    cdef int other
    if K <= 1 or u.fixed:
        return
    other = 1 - u.s.mode
    if u.s.switched:
        u.s.switched = False
        if not (u.s.probing and dt > losing_time(u, dt, work) + WAKE_S):
            # (a batch that lost a time slice is timed: it lost, wake-up
            # or not)
            u.s.skip_time = dt
            u.s.skip_work = work
            if share:
                tuner_share(u)
            return
    if (wall > 0 and u.s.decided_at > 0 and not u.s.probing
            and not u.s.refresh
            and wall - u.s.decided_at >= fmax(STALE_S, u.s.quiet)):
        # The decision is stale: the incumbent is measured afresh in a
        # short window, then the other mode. This batch, the first after
        # the pause, is left out: it pays for waking the threads that
        # slept through the pause, and would make a team look slow.
        u.s.refresh = True
        tuner_window_reset(u)
        if share:
            tuner_share(u)
        return
    u.s.win_time += dt
    u.s.win_work += work
    u.s.win_batches += 1
    if u.s.probing and u.s.win_time > losing_time(u, u.s.win_time, u.s.win_work):
        pass    # a probe that is clearly losing ends at once
    elif (u.s.win_time < WINDOW_S_FIRST and u.s.win_batches < WINDOW_BATCHES
            if u.s.backoff <= 1 or u.s.refresh else
            u.s.win_batches < WINDOW_BATCHES
            or (u.s.win_time < WINDOW_S and u.s.win_batches < 512)):
        if share:
            tuner_share(u)
        return
    window = u.s.win_time
    r = u.s.win_time / u.s.win_work
    prev = u.s.rate[u.s.mode]
    u.s.rate[u.s.mode] = r
    if u.s.probing:
        # The window just closed tried `mode` against the incumbent `other`,
        # measured before: keep the probe only if clearly better.
        u.s.decided_at = wall
        if r < 0.95 * u.s.rate[other]:
            u.s.probing = False
            u.s.lost_once = False
            # (a win by LOSING_LONG or more is as clear as a lost probe:
            # the loser waits as after one, instead of being measured
            # again at once; so is the team's win by LOSING_ONE, the
            # margin that ends a probe of one thread)
            u.s.backoff = 4 if r * (LOSING_ONE if u.s.mode == 1 else LOSING_LONG) < u.s.rate[other] else 1
            u.s.countdown = u.s.backoff
            u.s.since = 0
            u.s.quiet = 0
            tuner_window_reset(u)
        else:
            tuner_lost(u, (r - u.s.rate[other]) * u.s.win_work
                       + fmax(0, u.s.skip_time - u.s.rate[other] * u.s.skip_work))
    else:
        tuner_window_reset(u)
        u.s.since += window
        if (u.s.backoff == 0
                or (u.s.mode == 1 and prev > 0 and r > SLOWED * prev)
                or (u.s.since >= u.s.quiet
                    and (u.s.countdown <= 1 or u.s.since >= MAX_GAP_S))
                or u.s.refresh):
            # probe the other mode: the first time (explore), when the team
            # slowed down, when its turn came, or when the decision went
            # stale
            u.s.mode = other
            u.s.probing = True
            u.s.refresh = False
            u.s.switched = other == 1
            u.s.skip_time = 0
            u.s.skip_work = 0
            if u.s.backoff == 0:
                u.s.backoff = 1
        elif u.s.countdown > 1:
            u.s.countdown -= 1
    if share:
        tuner_share(u)


# Forward passes (predict, predict_proba, forward, validation scores) keep
# a tuner of their own, one call per "mini-batch": a pass's row blocks are
# fixed by n_threads, so the team that runs them can change without
# changing a bit. A size class not seen yet starts on the team (a forward
# pass is one parallel region: on a loaded machine it can lose one time
# slice before the tuner knows).
cdef TunerMem _fwd_mem[N_SIZE_CLASSES]


cdef TunerMem* fwd_entry(double work, bint single) noexcept nogil:
    cdef TunerMem* e = &_fwd_mem[size_class(work, single)]
    if e.backoff == 0 and e.win_batches == 0:
        e.mode = 1
    return e


def forward_team(int n_threads, double work, bint single):
    """Threads to run a forward pass of `work` flops on: n_threads, or 1
    where the forward tuner found one thread faster for this size."""
    if n_threads <= 1:
        return 1
    return n_threads if fwd_entry(work, single).mode == 1 else 1


def forward_record(int n_threads, double work, bint single, double seconds):
    """Account a forward pass that forward_team sized, and took `seconds`."""
    cdef Tuner u
    cdef TunerMem* e
    if n_threads <= 1:
        return
    e = fwd_entry(work, single)
    tuner_init(&u, False)
    u.s = e[0]
    tuner_record(&u, seconds, work, n_threads, False, time.monotonic())
    e[0] = u.s


def _tuner_memory(state=None, *, bint forward=False):
    """The process-wide memory of the training (or forward) tuner as a list
    of (mode, backoff, countdown, since, quiet, rate one, rate team) per
    size class; with `state`, set it, with no window under way (for
    tests)."""
    cdef int k
    cdef TunerMem* mem = &_tuner_mem[0]
    if forward:
        mem = &_fwd_mem[0]
    cdef TunerMem* e
    old = []
    for k in range(N_SIZE_CLASSES):
        e = &mem[k]
        old.append((e.mode, e.backoff, e.countdown, e.since, e.quiet,
                    e.rate[0], e.rate[1]))
    if state is not None:
        if len(state) != N_SIZE_CLASSES:
            raise ValueError("one entry per size class")
        for k in range(N_SIZE_CLASSES):
            e = &mem[k]
            memset(e, 0, sizeof(TunerMem))
            (e.mode, e.backoff, e.countdown, e.since, e.quiet, e.rate[0],
             e.rate[1]) = state[k]
    return old


def _tuner_start(double work, bint single=True):
    """(size class, mode) a new Trainer whose mini-batches take `work`
    flops starts in, given the process-wide memory (for tests)."""
    cdef Tuner u
    tuner_init(&u, False)
    tuner_bind(&u, work, single)
    return u.key, u.s.mode


def _tuner_trace(double s_per_row_one, double s_per_row_team,
                 Py_ssize_t rows, Py_ssize_t n_batches, int K=2, *, int key=-1,
                 double switch_s=0, double wall=0, double first_s=0):
    """The modes (1: team, 0: one thread) a tuner picks for n_batches
    mini-batches of `rows` rows that take the given seconds per row in each
    mode, the first batch after a change to the team `switch_s` seconds
    more (waking its threads) (for tests of the tuner's policy): in a
    fresh process, leaving the
    process-wide state alone, or (key >= 0) starting from and updating that
    size class of the process-wide memory. With `wall` > 0 the batches run
    back to back from that time on a clock (seconds) the tuner sees;
    without, the tuner sees no clock. The first batch takes `first_s`
    seconds more (waking threads after a pause)."""
    cdef Tuner u
    cdef Py_ssize_t b
    cdef int last
    cdef double dt
    tuner_init(&u, False)
    if key >= 0:
        if key >= N_SIZE_CLASSES:
            raise ValueError("no such size class")
        u.key = key
        u.s = _tuner_mem[key]
    modes = np.empty(n_batches, dtype=np.int8)
    last = u.s.mode
    for b in range(n_batches):
        modes[b] = u.s.mode
        dt = rows * (s_per_row_team if u.s.mode == 1 else s_per_row_one)
        if u.s.mode == 1 and last == 0:
            dt += switch_s
        if b == 0:
            dt += first_s
        last = u.s.mode
        if wall > 0:
            wall += dt
        tuner_record(&u, dt, rows, K, key >= 0, wall)
    return modes
