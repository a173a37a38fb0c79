/**
 * A modal dialog on the native <dialog>: showModal() makes the rest of the page inert, keeps focus
 * inside and closes on Escape, which every assistive technology understands. Focus goes back to
 * whatever opened it.
 */
import type { ComponentChildren } from 'preact';
import { useId, useLayoutEffect, useRef, useState } from 'preact/hooks';

export interface ModalProps {
  readonly title: string;
  readonly onClose: () => void;
  readonly children: ComponentChildren;
}

export function Modal({ title, onClose, children }: ModalProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  // Who had focus when the dialog was asked for, read while rendering: by the time an effect runs
  // the browser may already have moved focus to the dialog's autofocus field.
  const [opener] = useState(() =>
    document.activeElement instanceof HTMLElement ? document.activeElement : null,
  );
  // A layout effect: the dialog is modal before the browser paints or processes autofocus.
  useLayoutEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return undefined;
    dialog.showModal();
    return () => {
      if (dialog.open) dialog.close();
      if (opener?.isConnected === true) opener.focus();
    };
  }, [opener]);
  return (
    <dialog
      ref={ref}
      class="modal"
      aria-labelledby={titleId}
      onCancel={(e) => {
        // Escape: the page decides (it unmounts the dialog), so the state and the DOM agree.
        e.preventDefault();
        onClose();
      }}
    >
      <h2 id={titleId}>{title}</h2>
      {children}
    </dialog>
  );
}
