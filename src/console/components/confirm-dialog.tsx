/** "Are you sure?" for revert and delete: Confirm or Cancel, Cancel focused first (nothing lost by Enter). */
import type { ComponentChildren } from 'preact';
import { Modal } from './modal.tsx';

export interface ConfirmProps {
  readonly title: string;
  readonly children: ComponentChildren;
  readonly onConfirm: () => void;
  readonly onCancel: () => void;
}

export function ConfirmDialog({ title, children, onConfirm, onCancel }: ConfirmProps) {
  return (
    <Modal title={title} onClose={onCancel}>
      <div class="dialog-body">{children}</div>
      <div class="dialog-buttons">
        <button type="button" class="danger" onClick={onConfirm}>
          Confirm
        </button>
        <button type="button" autofocus onClick={onCancel}>
          Cancel
        </button>
      </div>
    </Modal>
  );
}
