/* Keeping a training team's threads on different CPUs while it trains.
 *
 * On a virtual machine, a vCPU left idle for a while is halted and given
 * back to the host, and the guest's scheduler then reads it as busy (its
 * "preempted" flag): the wake-up of a sleeping OpenMP worker goes to the
 * CPU of the thread that wakes it, the master, which spins at the
 * region's barrier. The two share one CPU until a scheduler tick (4 ms)
 * moves one of them, while the other CPU stays idle. Measured on the
 * 2-vCPU AMD EPYC VM (benchmarks/team_wake.py, one-epoch digits fits of a
 * fixed team after 0.3 s pauses): the first two mini-batches took 12-16 ms
 * in 4 fits of 12, against 0.14-0.18 ms in every fit with the workers
 * kept off the master's CPU.
 *
 * So while the team runs an epoch's mini-batches, its workers are kept off
 * the CPU the master is on (free to use the others the master may use),
 * and get the master's mask back when the team stops (one thread takes
 * over, or the epoch ends): the master itself is never pinned, and no
 * other code of the process (predictions, other OpenMP code on the same
 * threads) runs with the workers' masks changed. The workers note their
 * thread ids themselves in every team region, so that their masks are set
 * while they sleep, without waking them. Nothing changes where the master
 * may use one CPU only, where an id is missing, or off Linux.
 */
#ifndef FASTBP_PIN_H
#define FASTBP_PIN_H

#define FB_PIN_MAX 256

#if defined(__linux__)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;                  /* the process the ids belong to (a forked
                                   child has its parent's copy) */
    pid_t tid[FB_PIN_MAX];      /* thread t of the last team region */
    int team;                   /* the team kept apart (0: none) */
    int cpu;                    /* ... from this CPU, the master's */
    cpu_set_t saved;            /* the master's mask: the workers' after */
} fb_pins;

/* One per master thread: its team is its own pool of OpenMP threads. */
static __thread fb_pins fb_pins_tls;
static __thread pid_t fb_tid_tls = 0;

static inline fb_pins* fb_pins_mine(void) { return &fb_pins_tls; }

/* Called by thread t of a team region run by the master `p`. */
static inline void fb_pin_note(fb_pins* p, int t) {
    if (t <= 0 || t >= FB_PIN_MAX)
        return;
    if (fb_tid_tls == 0)
        fb_tid_tls = (pid_t)syscall(SYS_gettid);
    p->tid[t] = fb_tid_tls;
}

/* The master starts its region's notes (the process it is in). */
static inline void fb_pin_owner(fb_pins* p) {
    pid_t me = getpid();
    if (p->pid != me) {
        int t;
        for (t = 0; t < FB_PIN_MAX; t++)
            p->tid[t] = 0;
        p->team = 0;
        p->pid = me;
    }
}

/* Threads 1..p->team-1 may run on the master's CPUs but c. */
static void fb_pin_apart(fb_pins* p, int c) {
    cpu_set_t others = p->saved;
    int t;
    CPU_CLR(c, &others);
    p->cpu = c;
    for (t = 1; t < p->team; t++)
        (void)sched_setaffinity(p->tid[t], sizeof(others), &others);
}

/* Keep threads 1..team-1 off the CPU the master is on: 1 if done, -1
 * where a thread's id is not known yet (this master's team has not run a
 * region of that size: try again after one), 0 where it cannot be done.
 * (fb_pin_owner has checked the ids are this process's.) */
static int fb_pin_team(fb_pins* p, int team) {
    int c, t;
    if (p->team > 0 || team < 2 || team > FB_PIN_MAX)
        return 0;
    for (t = 1; t < team; t++)
        if (p->tid[t] == 0)
            return -1;
    if (sched_getaffinity(0, sizeof(p->saved), &p->saved) != 0
            || CPU_COUNT(&p->saved) < 2)
        return 0;
    c = sched_getcpu();
    if (c < 0 || c >= CPU_SETSIZE || !CPU_ISSET(c, &p->saved))
        return 0;
    p->team = team;
    fb_pin_apart(p, c);
    return 1;
}

/* Where the master has moved to another CPU (the scheduler may move it
 * while it trains), keep the workers off that one instead. */
static inline void fb_pin_follow(fb_pins* p) {
    int c;
    if (p->team == 0)
        return;
    c = sched_getcpu();     /* (no system call: rseq or the vDSO) */
    if (c != p->cpu && c >= 0 && c < CPU_SETSIZE && CPU_ISSET(c, &p->saved))
        fb_pin_apart(p, c);
}

/* Give the workers the master's mask back. */
static void fb_unpin_team(fb_pins* p) {
    int t;
    if (p->team == 0)
        return;
    for (t = 1; t < p->team; t++)
        (void)sched_setaffinity(p->tid[t], sizeof(p->saved), &p->saved);
    p->team = 0;
}

static inline int fb_pinned(const fb_pins* p) { return p->team; }

#else   /* not Linux: nothing is pinned */

typedef struct { int team; } fb_pins;
static fb_pins fb_pins_none = {0};
static inline fb_pins* fb_pins_mine(void) { return &fb_pins_none; }
static inline void fb_pin_note(fb_pins* p, int t) { (void)p; (void)t; }
static inline void fb_pin_owner(fb_pins* p) { (void)p; }
static inline int fb_pin_team(fb_pins* p, int team) { (void)p; (void)team; return 0; }
static inline void fb_pin_follow(fb_pins* p) { (void)p; }
static inline void fb_unpin_team(fb_pins* p) { (void)p; }
static inline int fb_pinned(const fb_pins* p) { (void)p; return 0; }

#endif
#endif
