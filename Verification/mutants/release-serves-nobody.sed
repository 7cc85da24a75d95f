# giveBack returns the lease but forgets to hand the freed capacity to the queued callers.
# check: ltl waiters_finish
# expect: acceptance cycle
s/:: nw > 0 -> serveWaiters(); planCreates()/:: nw > 0 -> planCreates()/
