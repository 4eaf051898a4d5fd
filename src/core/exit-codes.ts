// The process exit codes of the daemon and of every command, defined once.

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
/** Bad arguments or config given on the command line. */
export const EXIT_USAGE = 2;
/** Done, but not entirely as planned: hard-stopped after a timeout / without a clean path, or started but not ready. */
export const EXIT_DEGRADED = 3;
/**
 * EX_TEMPFAIL (sysexits.h): someone else acts on this state directory now — a second daemon while one
 * runs, or start-all/stop-all while the daemon's boot plan or host shutdown (or another run) acts.
 */
export const EXIT_BUSY = 75;
/** EX_CONFIG (sysexits.h): a bad config file — from `config check`, every admin command and the daemon alike. */
export const EXIT_CONFIG = 78;
