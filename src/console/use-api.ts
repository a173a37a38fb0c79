/** Loading what a page shows: the data, the error in words, and a reload that keeps the old data. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { describe } from './api.ts';

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: string | undefined;
  readonly loading: boolean;
  readonly reload: () => Promise<void>;
}

export function useApi<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const live = useRef(true);
  // The caller names what the loader depends on, as with useEffect.
  const run = useCallback(load, deps);
  const reload = useCallback(async () => {
    try {
      const next = await run();
      if (!live.current) return;
      setData(next);
      setError(undefined);
    } catch (err) {
      if (live.current) setError(describe(err));
    } finally {
      if (live.current) setLoading(false);
    }
  }, [run]);
  useEffect(() => {
    live.current = true;
    setLoading(true);
    void reload();
    return () => {
      live.current = false;
    };
  }, [reload]);
  return { data, error, loading, reload };
}
