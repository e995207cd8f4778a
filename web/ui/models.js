// @ts-check
// The buttons that load the models the pages offer (protocol.js's MODELS), for the lab and
// the eval page.

import { h, formatBytes } from './dom.js';
import { MODELS } from '../protocol.js';

/**
 * "Load NAME (SIZE)", one button per known model; the default model's is #load-default
 * (and the primary one), the others' #load-ID. A click calls `onLoad` with the model's URL
 * next to the page.
 * @param {(url: string) => void} onLoad
 * @param {boolean} [disabled]
 */
export function modelButtons(onLoad, disabled = false) {
  return MODELS.map((m, i) => h('button', {
    type: 'button',
    id: i === 0 ? 'load-default' : `load-${m.id}`,
    className: i === 0 ? 'primary' : undefined,
    disabled,
    on: { click: () => onLoad(new URL(m.path, location.href).href) },
  }, `Load ${m.name} (${formatBytes(m.bytes)})`));
}
