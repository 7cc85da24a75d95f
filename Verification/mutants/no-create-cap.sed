# planCreatesLocked forgets maxConcurrentCreates: more connections open at once than the cap allows.
# check: safety
# expect: assertion violated (openingCount<=1)
s/:: nslots < MAXSIZE \&\& openingCount < MAX_CREATES \&\& /:: nslots < MAXSIZE \&\& /
