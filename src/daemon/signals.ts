// Turns process signals into the daemon's two questions: "has a stop been asked for?" (a promise
// and an AbortSignal that the boot plan watches) and "reload the config now" (a callback).

export interface SignalWiring {
  /** Aborted at the first SIGTERM/SIGINT: the boot plan launches nothing more. */
  readonly stopSignal: AbortSignal;
  /** Resolves with the signal name at the first SIGTERM/SIGINT. */
  readonly stopRequested: Promise<NodeJS.Signals>;
  dispose(): void;
}

export function wireSignals(handlers: {
  onReload: () => void;
  onRepeatedStop: (signal: NodeJS.Signals) => void;
}): SignalWiring {
  const controller = new AbortController();
  let resolveStop!: (s: NodeJS.Signals) => void;
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
    resolveStop = resolve;
  });
  // Signal handlers do not keep Node's event loop alive: without this the daemon would exit
  // right after READY whenever nothing else (a toolstack event loop) happens to be pending.
  let keepAlive: NodeJS.Timeout | null = setInterval(() => undefined, 2 ** 31 - 1);
  const release = () => {
    if (keepAlive) clearInterval(keepAlive);
    keepAlive = null;
  };
  const onStop = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      handlers.onRepeatedStop(signal);
      return;
    }
    release();
    controller.abort(signal);
    resolveStop(signal);
  };
  const onHup = () => handlers.onReload();
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  return {
    stopSignal: controller.signal,
    stopRequested,
    dispose() {
      release();
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      process.off('SIGHUP', onHup);
    },
  };
}
