/**
 * A page's <h1>. It takes focus when the page opens, so a screen reader announces the new page
 * after a hash navigation (which, unlike a page load, says nothing by itself), and sets the title.
 *
 * In a layout effect, run as the heading enters the DOM: a plain effect waits for the next frame,
 * and on a starved machine the user (or a test) could already have moved on, so the late focus
 * stole it back, or a dialog opened in the meantime took the heading for its opener and sent
 * focus there on close (seen once in the keyboard test under a CPU burner).
 */
import type { ComponentChildren } from 'preact';
import { useLayoutEffect, useRef } from 'preact/hooks';

export function PageHeading({ title, children }: { title: string; children?: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useLayoutEffect(() => {
    document.title = `${title} · vmsnap`;
    ref.current?.focus();
  }, [title]);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children ?? title}
    </h1>
  );
}
