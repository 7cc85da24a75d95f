/*
 * A model of ConnectionPooling's PoolEngine, checked with SPIN (scripts/model-check.sh; docs/connection-pooling.md,
 * "What the model checker proves").
 *
 * Every `d_step` below is one acquisition of the engine's lock: the code decides everything under that lock and
 * acts after it (PoolEffects), so a lock step is indivisible and the model interleaves only whole steps. Each step
 * names the PoolEngine function it models; the inlines carry the names of the *Locked helpers they follow line by
 * line. Effects that run after the lock (deliveries, connector calls) become state the other processes react to:
 * a delivered result is read by the client, a `create`/`ready`/`close` in flight is completed by the slot's driver.
 *
 * Abstractions (each a bound on what is proved, listed in docs/connection-pooling.md):
 *  - Slots are records 0..MAXSIZE (one spare, so that opening past maxSize would be visible to the invariants).
 *  - The waiter FIFO removes resolved waiters at once; the code leaves them in the queue marked `done` and skips
 *    them (serveWaitersLocked, failOpeningLocked, closeAll), which sees the live waiters in the same order.
 *  - Time is events: a waiter's deadline passing (clients 1.. have finite time-outs; client 0 waits without
 *    one), an opening slot's getTimeout passing, and one clock jump past maxIdle (every idle ready slot) or
 *    maxLifespan (every slot that exists), both longer than getTimeout: in the jump every slot still opening times
 *    out first, then the sweep timer runs. So a slot whose lifespan passes while it opens (getTimeout longer than
 *    maxLifespan) is outside the model.
 *  - minReady, warmUp, cancellation, maxWaiters and zero time-outs are outside the model.
 *
 * Trace format (printed by `spin -t` replaying a trail and by random simulations; read by
 * Tests/ConnectionPoolingTests/ModelTraceReplayTests.swift): one `EV` line per event, then one `ST` line with the
 * counts after each lock step. Actions the replayer performs: acquire, release, expire, createDone, readyDone,
 * closeDone, getTimeout, waiterTimeout, tick, closeAll. Effects the real pool must show: create (a
 * connector.create call), close (a connector.close call), deliver (a completion), closeCompleted.
 */

#ifndef CLIENTS
#define CLIENTS 3
#endif
#ifndef MAXSIZE
#define MAXSIZE 2
#endif
#ifndef CLIENT_LIMIT
#define CLIENT_LIMIT 1
#endif
#ifndef MAX_CREATES
#define MAX_CREATES 1
#endif
/* Fault budgets: how many of each fault one execution may contain. */
#ifndef CREATE_FAILS
#define CREATE_FAILS 1
#endif
#ifndef READY_FAILS
#define READY_FAILS 1
#endif
#ifndef DISCARDS
#define DISCARDS 1
#endif
#ifndef GET_TIMEOUTS
#define GET_TIMEOUTS 1
#endif
#ifndef TICKS
#define TICKS 1
#endif
#ifndef CLOSE_ALLS
#define CLOSE_ALLS 1
#endif

#if CLIENTS != 3 || MAXSIZE != 2
#error "the ltl formulas below are written out for 3 clients and 3 slot records"
#endif
#define SLOTS (MAXSIZE + 1)
#define NONE 255

/* Slot states (SlotState), FREE meaning "not in engine.slots". */
#define FREE 0
#define OPENING 1
#define READY 2
#define DRAINING 3
#define CLOSING 4
/* What the connector is doing for a slot. */
#define P_IDLE 0
#define P_CREATING 1
#define P_READYING 2
#define P_CLOSING 3
/* Results a client receives. */
#define R_NONE 0
#define R_OK 1
#define R_TIMEDOUT 2
#define R_FAILED 3
#define R_CLOSED 4

byte st[SLOTS];
byte ph[SLOTS];
byte inUse[SLOTS];
/* Creation order among live slots (1 = oldest): PoolSlot.precedes breaks ties by newest first. */
byte rank[SLOTS];
bit hasConn[SLOTS];        /* slot.connection != nil */
bit abandoned[SLOTS];      /* slot.abandoned */
bit lifeGone[SLOTS];       /* slot.expiry <= now because maxLifespan passed */

byte nslots;               /* slots.count */
byte openingCount;
byte abandonedOpening;
byte wq[CLIENTS];          /* live waiters, FIFO */
byte nw;                   /* liveWaiters */
bit isClosed;
bit closeCalled;
bit closeDone;             /* closeAll's completion ran */

byte res[CLIENTS];         /* the result delivered to the client's current acquire; R_OK while it holds the lease */
byte leaseOf[CLIENTS];
bit waiting[CLIENTS];

byte createFails;
byte readyFails;
byte discards;
byte ticks;
byte getTimeouts;
byte closeAlls;

/* Scratch for the lock steps; hidden (not part of the state) and only used inside d_steps. */
hidden byte i_;
hidden byte j_;
hidden byte b_;
hidden byte k_;
hidden byte got_;
hidden byte c_;
hidden byte n_;
hidden short toFail_;

inline printState() {
    n_ = 0; j_ = 0; b_ = 0; got_ = 0;
    i_ = 0;
    do
    :: i_ < SLOTS ->
        if
        :: st[i_] == READY -> n_++
        :: st[i_] == DRAINING || st[i_] == CLOSING -> j_++
        :: else -> skip
        fi;
        got_ = got_ + inUse[i_];
        i_++
    :: else -> break
    od;
    printf("ST ready=%d opening=%d draining=%d inuse=%d waiters=%d closed=%d\n",
           n_, openingCount, j_, got_, nw, isClosed)
}

/* The invariants, asserted at the end of every lock step (so they hold in every reachable state). */
inline checkInvariants() {
    n_ = 0; j_ = 0;
    i_ = 0;
    do
    :: i_ < SLOTS ->
        assert(inUse[i_] <= CLIENT_LIMIT);                          /* leases per connection <= clientLimit */
        assert(st[i_] != READY || hasConn[i_]);                     /* never a ready slot without a connection */
        assert(st[i_] == READY || st[i_] == DRAINING || inUse[i_] == 0); /* no lease on opening/closing/closed */
        if
        :: st[i_] != FREE -> n_++
        :: else -> skip
        fi;
        if
        :: st[i_] == OPENING -> j_++
        :: else -> skip
        fi;
        /* every lease is held by exactly one client that received it: none lost, none invented */
        got_ = 0; c_ = 0;
        do
        :: c_ < CLIENTS ->
            if
            :: res[c_] == R_OK && leaseOf[c_] == i_ -> got_++
            :: else -> skip
            fi;
            c_++
        :: else -> break
        od;
        assert(got_ == inUse[i_]);
        i_++
    :: else -> break
    od;
    assert(n_ == nslots);
    assert(nslots <= MAXSIZE);                                      /* open connections <= maxSize */
    assert(j_ == openingCount);
    assert(openingCount <= MAX_CREATES);                            /* opening <= maxConcurrentCreates */
    assert(abandonedOpening <= openingCount);
    c_ = 0;
    do
    :: c_ < CLIENTS ->
        /* a lease is on a connection that is open and not closing */
        assert(res[c_] != R_OK || ((st[leaseOf[c_]] == READY || st[leaseOf[c_]] == DRAINING) && hasConn[leaseOf[c_]]));
        c_++
    :: else -> break
    od
}

/* Waiter.deliver after the lock: exactly once per acquire (the client has no result yet and was waiting). */
inline deliver(c, r, s) {
    assert(res[c] == R_NONE);
    res[c] = r;
    leaseOf[c] = s;
    if
    :: r == R_OK -> printf("EV deliver c=%d ok s=%d\n", c, s)
    :: r == R_TIMEDOUT -> printf("EV deliver c=%d timedOut\n", c)
    :: r == R_FAILED -> printf("EV deliver c=%d connectionFailed\n", c)
    :: r == R_CLOSED -> printf("EV deliver c=%d poolClosed\n", c)
    fi
}

/* waiters.pop() of the first live waiter. */
inline popWaiter(c) {
    assert(nw > 0);
    c = wq[0];
    i_ = 1;
    do
    :: i_ < nw -> wq[i_ - 1] = wq[i_]; i_++
    :: else -> break
    od;
    nw--;
    wq[nw] = 0;
    waiting[c] = 0
}

/* finishWaiterLocked of waiter `c` wherever it is in the queue. */
inline removeWaiter(c) {
    i_ = 0;
    do
    :: i_ < nw && wq[i_] != c -> i_++
    :: else -> break
    od;
    assert(i_ < nw);
    do
    :: i_ + 1 < nw -> wq[i_] = wq[i_ + 1]; i_++
    :: else -> break
    od;
    nw--;
    wq[nw] = 0;
    waiting[c] = 0
}

/* PoolEngine.removeSlotLocked */
inline removeSlot(s) {
    i_ = 0;
    do
    :: i_ < SLOTS ->
        if
        :: st[i_] != FREE && rank[i_] > rank[s] -> rank[i_]--
        :: else -> skip
        fi;
        i_++
    :: else -> break
    od;
    st[s] = FREE; ph[s] = P_IDLE; rank[s] = 0; hasConn[s] = 0; abandoned[s] = 0; lifeGone[s] = 0;
    nslots--;
    if
    :: isClosed && nslots == 0 && closeCalled && !closeDone -> closeDone = 1; printf("EV closeCompleted\n")
    :: else -> skip
    fi
}

/* PoolEngine.beginCloseLocked */
inline beginClose(s) {
    st[s] = CLOSING;
    if
    :: hasConn[s] -> ph[s] = P_CLOSING; printf("EV close s=%d\n", s)
    :: else -> removeSlot(s)
    fi
}

/* PoolEngine.closeOrDropLocked */
inline closeOrDrop(s) {
    if
    :: hasConn[s] -> st[s] = CLOSING; ph[s] = P_CLOSING; printf("EV close s=%d\n", s)
    :: else -> removeSlot(s)
    fi
}

/* PoolEngine.retireLocked */
inline retire(s) {
    if
    :: st[s] == READY ->
        st[s] = DRAINING;
        if
        :: inUse[s] == 0 -> beginClose(s)
        :: else -> skip
        fi
    :: else -> skip
    fi
}

/* readyHeap.min: fewest leases, then newest (PoolSlot.precedes). */
inline heapMin(best) {
    best = NONE;
    i_ = 0;
    do
    :: i_ < SLOTS ->
        if
        :: st[i_] == READY && (best == NONE || inUse[i_] < inUse[best] || (inUse[i_] == inUse[best] && rank[i_] > rank[best])) ->
            best = i_
        :: else -> skip
        fi;
        i_++
    :: else -> break
    od
}

/* PoolEngine.tryLeaseLocked */
inline tryLease(got) {
    got = NONE;
    do
    :: heapMin(b_);
        if
        :: b_ == NONE -> break
        :: b_ != NONE && inUse[b_] >= CLIENT_LIMIT -> break
        :: b_ != NONE && inUse[b_] < CLIENT_LIMIT && (lifeGone[b_] || !hasConn[b_]) -> retire(b_)
        :: b_ != NONE && inUse[b_] < CLIENT_LIMIT && !lifeGone[b_] && hasConn[b_] -> inUse[b_]++; got = b_; break
        fi
    od
}

/* PoolEngine.planCreatesLocked (minReady 0, no warmUp) */
inline planCreates() {
    if
    :: !isClosed ->
        do
        :: nslots < MAXSIZE && openingCount < MAX_CREATES && nw > (openingCount - abandonedOpening) * CLIENT_LIMIT ->
            i_ = 0;
            do
            :: i_ < SLOTS && st[i_] != FREE -> i_++
            :: else -> break
            od;
            assert(i_ < SLOTS);
            nslots++;
            st[i_] = OPENING; ph[i_] = P_CREATING; rank[i_] = nslots;
            hasConn[i_] = 0; abandoned[i_] = 0; lifeGone[i_] = 0; inUse[i_] = 0;
            openingCount++;
            printf("EV create s=%d\n", i_)
        :: else -> break
        od
    :: else -> skip
    fi
}

/* PoolEngine.serveWaitersLocked */
inline serveWaiters() {
    do
    :: nw > 0 ->
        tryLease(got_);
        if
        :: got_ == NONE -> break
        :: else -> popWaiter(c_); deliver(c_, R_OK, got_)
        fi
    :: else -> break
    od
}

/* PoolEngine.failOpeningLocked */
inline failOpening() {
    toFail_ = nw - (openingCount - abandonedOpening) * CLIENT_LIMIT;
    do
    :: toFail_ > 0 && nw > 0 -> popWaiter(c_); deliver(c_, R_FAILED, 0); toFail_--
    :: else -> break
    od
}

/* PoolEngine.openingFinished; result 1 = success */
inline openingFinished(s, ok) {
    if
    :: st[s] == OPENING ->
        openingCount--;
        if
        :: abandoned[s] -> abandonedOpening--; closeOrDrop(s)
        :: !abandoned[s] && ok -> st[s] = READY; ph[s] = P_IDLE; serveWaiters()
        :: !abandoned[s] && !ok -> closeOrDrop(s); failOpening()
        fi;
        planCreates()
    :: else -> skip
    fi
}

/* PoolEngine.acquireOrEnqueue (finite or infinite time-out > 0, maxWaiters not reached) */
inline acquireOrEnqueue(c) {
    if
    :: isClosed -> res[c] = R_CLOSED; printf("EV acquire c=%d -> poolClosed\n", c)
    :: else ->
        got_ = NONE;
        if
        :: nw == 0 -> tryLease(got_)
        :: else -> skip
        fi;
        if
        :: got_ != NONE -> res[c] = R_OK; leaseOf[c] = got_; printf("EV acquire c=%d -> lease s=%d\n", c, got_)
        :: else ->
            printf("EV acquire c=%d -> queued\n", c);
            wq[nw] = c; nw++; waiting[c] = 1;
            planCreates()
        fi
    fi
}

/* PoolEngine.giveBack; discard 1 = LeaseRelease.discard */
inline giveBack(c, discard) {
    b_ = leaseOf[c];
    if
    :: discard -> printf("EV release c=%d s=%d discard\n", c, b_)
    :: else -> printf("EV release c=%d s=%d reuse\n", c, b_)
    fi;
    res[c] = R_NONE;
    leaseOf[c] = 0;
    assert(inUse[b_] > 0);
    inUse[b_]--;
    if
    :: st[b_] == READY && discard -> retire(b_)
    :: st[b_] == DRAINING && inUse[b_] == 0 -> beginClose(b_)
    :: else -> skip
    fi;
    if
    :: nw > 0 -> serveWaiters(); planCreates()
    :: else -> skip
    fi
}

/* PoolEngine.sweep (minReady 0) */
inline sweep() {
    if
    :: !isClosed ->
        k_ = 0;
        do
        :: k_ < SLOTS ->
            if
            :: st[k_] == READY && lifeGone[k_] -> retire(k_)
            :: else -> skip
            fi;
            k_++
        :: else -> break
        od;
        planCreates()
    :: else -> skip
    fi
}

/* PoolEngine.closeAll */
inline closeAll() {
    closeCalled = 1;
    if
    :: !isClosed ->
        isClosed = 1;
        do
        :: nw > 0 -> popWaiter(c_); deliver(c_, R_CLOSED, 0)
        :: else -> break
        od;
        n_ = 0;
        do
        :: n_ < SLOTS ->
            if
            :: st[n_] == READY -> retire(n_)
            :: st[n_] == OPENING && !abandoned[n_] -> abandoned[n_] = 1; abandonedOpening++
            :: else -> skip
            fi;
            n_++
        :: else -> break
        od
    :: else -> skip
    fi;
    if
    :: nslots == 0 && !closeDone -> closeDone = 1; printf("EV closeCompleted\n")
    :: else -> skip
    fi
}

/* The clock jumps past maxIdle or maxLifespan, which are longer than getTimeout: every slot still opening for the
   pool has its getTimeout timer fire first (deadline order) -> PoolEngine.openingTimedOut for each. */
inline timeOutOpenings() {
    k_ = 0;
    do
    :: k_ < SLOTS ->
        if
        :: st[k_] == OPENING && !abandoned[k_] -> abandoned[k_] = 1; abandonedOpening++; failOpening()
        :: else -> skip
        fi;
        k_++
    :: else -> break
    od
}

/* A caller: acquires, waits for its completion (or its deadline), uses and releases the lease, again and again. */
proctype client(byte c) {
end:
    do
    :: d_step { res[c] != R_OK -> res[c] = R_NONE; acquireOrEnqueue(c); checkInvariants(); printState() };
wait:   do
        :: res[c] != R_NONE -> break
        /* PoolEngine.expireWaiters: this waiter's deadline passed (client 0 waits without a deadline) */
        :: d_step { c > 0 && waiting[c] ->
                printf("EV waiterTimeout c=%d\n", c); removeWaiter(c); deliver(c, R_TIMEDOUT, 0);
                checkInvariants(); printState() }
        od;
        if
        :: res[c] != R_OK -> skip
        :: res[c] == R_OK ->
            if
            /* ConnectionLease.release(.reuse) -> PoolEngine.giveBack */
            :: d_step { true -> giveBack(c, 0); checkInvariants(); printState() }
            /* ConnectionLease.release(.discard) -> PoolEngine.giveBack */
            :: d_step { discards < DISCARDS -> discards++; giveBack(c, 1); checkInvariants(); printState() }
            /* ConnectionPool.expire(lease) -> PoolEngine.expireSlot, then release(.reuse) */
            :: d_step { discards < DISCARDS -> discards++; printf("EV expire c=%d s=%d\n", c, leaseOf[c]);
                    if
                    :: st[leaseOf[c]] == READY -> b_ = leaseOf[c]; retire(b_); planCreates()
                    :: else -> skip
                    fi;
                    checkInvariants(); printState() };
               d_step { true -> giveBack(c, 0); checkInvariants(); printState() }
            fi
        fi
    od
}

/* What happens to one slot outside the lock: the connector's completions and the slot's timers. */
proctype slotDriver(byte s) {
end:
    do
    /* connector.create delivered a connection (startCreate's completion); an abandoned slot then goes straight
       to openingFinished (its two lock steps commute with every other step: only they read slot.connection of
       an opening slot) */
    :: d_step { st[s] == OPENING && ph[s] == P_CREATING ->
            printf("EV createDone s=%d ok\n", s);
            hasConn[s] = 1;
            if
            :: abandoned[s] -> openingFinished(s, 0)
            :: else -> ph[s] = P_READYING
            fi;
            checkInvariants(); printState() }
    /* connector.create failed -> PoolEngine.openingFinished */
    :: d_step { st[s] == OPENING && ph[s] == P_CREATING && createFails < CREATE_FAILS ->
            createFails++;
            printf("EV createDone s=%d fail\n", s);
            openingFinished(s, 0);
            checkInvariants(); printState() }
    /* connector.ready succeeded -> PoolEngine.openingFinished */
    :: d_step { st[s] == OPENING && ph[s] == P_READYING ->
            printf("EV readyDone s=%d ok\n", s);
            openingFinished(s, 1);
            checkInvariants(); printState() }
    /* connector.ready failed -> PoolEngine.openingFinished */
    :: d_step { st[s] == OPENING && ph[s] == P_READYING && readyFails < READY_FAILS ->
            readyFails++;
            printf("EV readyDone s=%d fail\n", s);
            openingFinished(s, 0);
            checkInvariants(); printState() }
    /* the getTimeout timer -> PoolEngine.openingTimedOut */
    :: d_step { st[s] == OPENING && !abandoned[s] && getTimeouts < GET_TIMEOUTS ->
            getTimeouts++;
            printf("EV getTimeout s=%d\n", s);
            abandoned[s] = 1;
            abandonedOpening++;
            failOpening();
            checkInvariants(); printState() }
    /* connector.close finished -> startClose's completion */
    :: d_step { st[s] == CLOSING && ph[s] == P_CLOSING ->
            printf("EV closeDone s=%d\n", s);
            removeSlot(s);
            planCreates();
            checkInvariants(); printState() }
    od
}

/* The pool's owner and its clock: closeAll once and one jump of time past maxIdle or maxLifespan (the sweep timer
   fires in it), each optional. */
proctype environment() {
end:
    do
    /* ConnectionPool.closeAll -> PoolEngine.closeAll */
    :: d_step { closeAlls < CLOSE_ALLS ->
            closeAlls++;
            printf("EV closeAll\n");
            closeAll();
            checkInvariants(); printState() }
    /* time passes maxIdle: the sweep timer -> PoolEngine.sweep retires every idle ready slot */
    :: d_step { ticks < TICKS ->
            ticks++;
            printf("EV tick idle\n");
            timeOutOpenings();
            i_ = 0;
            do
            :: i_ < SLOTS ->
                if
                :: st[i_] == READY && inUse[i_] == 0 -> lifeGone[i_] = 1
                :: else -> skip
                fi;
                i_++
            :: else -> break
            od;
            sweep();
            /* an idle slot's expiry is cleared again by its next lease (markIdle restarts the idle clock) */
            checkInvariants(); printState() }
    /* time passes maxLifespan: every slot that exists is past it; the sweep timer -> PoolEngine.sweep */
    :: d_step { ticks < TICKS ->
            ticks++;
            printf("EV tick lifespan\n");
            timeOutOpenings();
            i_ = 0;
            do
            :: i_ < SLOTS ->
                if
                :: st[i_] != FREE -> lifeGone[i_] = 1
                :: else -> skip
                fi;
                i_++
            :: else -> break
            od;
            sweep();
            checkInvariants(); printState() }
    /* the owner and the clock may be done for good: weak fairness must not force a closeAll or an expiry, or
       every waiter would end up "served" by closeAll */
    :: break
    od
}

init {
    atomic {
        printf("CONFIG clients=%d maxSize=%d clientLimit=%d maxCreates=%d\n", CLIENTS, MAXSIZE, CLIENT_LIMIT, MAX_CREATES);
        i_ = 0;
        do
        :: i_ < CLIENTS -> run client(i_); i_++
        :: else -> break
        od;
        i_ = 0;
        do
        :: i_ < SLOTS -> run slotDriver(i_); i_++
        :: else -> break
        od;
        run environment()
    }
}

/* Liveness, each checked with weak fairness (pan -a -f -N name). Written as "infinitely often not X", which is
   "[] (X -> <> !X)" (never stuck in X) with a smaller never claim. */
#define busy(s) (st[s] == OPENING || st[s] == DRAINING || st[s] == CLOSING)
/* no slot stays opening, draining or closing: each ends ready or closed (one property per slot record: the
   conjunction's never claim multiplies the search; record 2 is the spare that only a bug opening past maxSize
   would use, which the safety invariants rule out) */
ltl slot0_settles { []<> !busy(0) }
ltl slot1_settles { []<> !busy(1) }
/* every queued acquire is served or fails (client 0 has no deadline: only a lease, a failed create or closeAll
   can end its wait) */
ltl waiters_finish { []<> !waiting[0] && []<> !waiting[1] && []<> !waiting[2] }
/* after closeAll every connection closes and closeAll's completion runs */
ltl close_drains { [] (closeCalled -> <> (closeDone && nslots == 0)) }
