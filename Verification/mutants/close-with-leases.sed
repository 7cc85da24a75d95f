# retireLocked closes a connection at once even while leases are still out on it.
# check: safety
# expect: assertion violated
s/:: inUse\[s\] == 0 -> beginClose(s)/:: true -> beginClose(s)/
