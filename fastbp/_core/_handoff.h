/* How long one thread takes to read what another has just written: the
 * cost a team of threads pays at every step of a layer-split mini-batch,
 * where each part reads the shares and deltas other parts wrote.
 *
 * Two threads, each kept on one of the first two CPUs the process may
 * use, take turns: one writes a value into each 64-byte line of a buffer
 * of `nbytes` and hands it over (a flag in memory, spun on), the other
 * reads a value of each line, writes its own, and hands it back. On the
 * 2-vCPU AMD EPYC VM a hand-off of 512 KiB takes 7-8 us where the two
 * vCPUs share a cache. For minutes at a time the host runs them where they
 * share none, while each vCPU alone runs as fast as before; a hand-off
 * then takes about twice as long (17-19 us against 9-10 for a variant
 * that rewrites every value, a C probe run beside a team's fits; its slow
 * stretches were those of the team's slow fits). benchmarks/steadiness.py
 * and fastbp bench print it beside each fit. */
#ifndef FASTBP_HANDOFF_H
#define FASTBP_HANDOFF_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__) && defined(__GNUC__)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <time.h>

typedef struct {
    float* buf;
    size_t n;               /* floats */
    int rounds;
    int warm;               /* untimed first round trips */
    int cpu;
    volatile long turn;     /* odd: thread 1's turn, even: thread 0's */
    volatile float sink;
} fb_handoff;

static double fb_handoff_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void fb_handoff_pin(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    (void)pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

/* Read one value of each 64-byte line the other thread wrote, then write
 * one value to each line: a hand-off is then the lines' trips between the
 * two cores, not the copying (the acquire and release of `turn` order
 * these plain accesses). */
static void fb_handoff_touch(fb_handoff* h, float v) {
    float s = 0;
    size_t j;
    for (j = 0; j < h->n; j += 16)
        s += h->buf[j];
    h->sink = s;
    for (j = 0; j < h->n; j += 16)
        h->buf[j] = v;
}

static void* fb_handoff_other(void* arg) {
    fb_handoff* h = (fb_handoff*)arg;
    long r;
    fb_handoff_pin(h->cpu);
    for (r = 0; r < h->rounds; r++) {
        while (__atomic_load_n(&h->turn, __ATOMIC_ACQUIRE) != 2 * r + 1)
            ;
        fb_handoff_touch(h, (float)r);
        __atomic_store_n(&h->turn, 2 * r + 2, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* Microseconds per hand-off (the mean over `rounds` round trips, two
 * hand-offs each, after rounds / 4 untimed ones), or -1 where the process may not use two CPUs or a
 * thread cannot be started. The calling thread is moved to the first CPU
 * and its own mask is put back after. */
static double fastbp_handoff_us(size_t nbytes, int rounds) {
    cpu_set_t mine;
    int cpus[2], found = 0, c;
    long r;
    double t0, t1;
    pthread_t other;
    fb_handoff h;
    if (rounds < 1 || nbytes < 64
            || pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine) != 0)
        return -1;
    for (c = 0; c < CPU_SETSIZE && found < 2; c++)
        if (CPU_ISSET(c, &mine))
            cpus[found++] = c;
    if (found < 2)
        return -1;
    memset(&h, 0, sizeof(h));
    h.n = nbytes / sizeof(float);
    h.buf = (float*)aligned_alloc(64, (h.n * sizeof(float) + 63) / 64 * 64);
    if (h.buf == NULL)
        return -1;
    memset(h.buf, 0, h.n * sizeof(float));
    h.warm = rounds / 4 > 0 ? rounds / 4 : 1;
    h.rounds = rounds + h.warm;
    rounds = h.rounds;
    h.cpu = cpus[1];
    fb_handoff_pin(cpus[0]);
    if (pthread_create(&other, NULL, fb_handoff_other, &h) != 0) {
        (void)pthread_setaffinity_np(pthread_self(), sizeof(mine), &mine);
        free(h.buf);
        return -1;
    }
    /* (the first round trips untimed: both threads running on their
     * CPUs, and the buffer's pages mapped) */
    for (r = 0; r < h.warm; r++) {
        fb_handoff_touch(&h, -1.0f);
        __atomic_store_n(&h.turn, 2 * r + 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&h.turn, __ATOMIC_ACQUIRE) != 2 * r + 2)
            ;
    }
    t0 = fb_handoff_now();
    for (r = h.warm; r < rounds; r++) {
        fb_handoff_touch(&h, (float)r);
        __atomic_store_n(&h.turn, 2 * r + 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&h.turn, __ATOMIC_ACQUIRE) != 2 * r + 2)
            ;
    }
    t1 = fb_handoff_now();
    pthread_join(other, NULL);
    (void)pthread_setaffinity_np(pthread_self(), sizeof(mine), &mine);
    free(h.buf);
    return 1e6 * (t1 - t0) / (2.0 * (rounds - h.warm));
}

#else   /* elsewhere: not measured */

static double fastbp_handoff_us(size_t nbytes, int rounds) {
    (void)nbytes;
    (void)rounds;
    return -1;
}

#endif
#endif
