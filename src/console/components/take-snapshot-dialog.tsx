/** The form behind "Take snapshot": CloudStack's createVMSnapshot fields. */
import { useId, useState } from 'preact/hooks';
import { Modal } from './modal.tsx';

export interface SnapshotRequest {
  readonly name: string;
  readonly description: string;
  readonly memory: boolean;
  readonly quiesce: boolean;
}

export interface TakeSnapshotProps {
  readonly vmName: string;
  readonly vmRunning: boolean;
  readonly onCreate: (request: SnapshotRequest) => void;
  readonly onCancel: () => void;
}

export function TakeSnapshotDialog({ vmName, vmRunning, onCreate, onCancel }: TakeSnapshotProps) {
  const id = useId();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [memory, setMemory] = useState(false);
  const [quiesce, setQuiesce] = useState(false);
  return (
    <Modal title={`Take snapshot of ${vmName}`} onClose={onCancel}>
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          onCreate({ name: name.trim(), description: description.trim(), memory, quiesce });
        }}
      >
        <div class="field">
          <label for={`${id}-name`}>Name</label>
          <input
            id={`${id}-name`}
            autofocus
            value={name}
            maxLength={255}
            aria-describedby={`${id}-name-hint`}
            onInput={(e) => setName(e.currentTarget.value)}
          />
          <p id={`${id}-name-hint`} class="hint">
            Optional: the server names it after the VM and the time if left empty.
          </p>
        </div>
        <div class="field">
          <label for={`${id}-description`}>Description</label>
          <textarea
            id={`${id}-description`}
            rows={2}
            value={description}
            onInput={(e) => setDescription(e.currentTarget.value)}
          />
        </div>
        <div class="check">
          <input
            id={`${id}-memory`}
            type="checkbox"
            checked={memory}
            disabled={!vmRunning}
            aria-describedby={`${id}-memory-hint`}
            onChange={(e) => setMemory(e.currentTarget.checked)}
          />
          <label for={`${id}-memory`}>Include memory</label>
          <p id={`${id}-memory-hint`} class="hint">
            {vmRunning
              ? 'Saves the guest’s RAM too: a revert resumes it running, where it was.'
              : 'Only a running VM has memory to save.'}
          </p>
        </div>
        <div class="check">
          <input
            id={`${id}-quiesce`}
            type="checkbox"
            checked={quiesce}
            aria-describedby={`${id}-quiesce-hint`}
            onChange={(e) => setQuiesce(e.currentTarget.checked)}
          />
          <label for={`${id}-quiesce`}>Quiesce guest</label>
          <p id={`${id}-quiesce-hint`} class="hint">
            Asks the guest agent to freeze the file systems first, for an application-consistent snapshot.
          </p>
        </div>
        <div class="dialog-buttons">
          <button type="submit" class="primary">
            Create
          </button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </Modal>
  );
}
