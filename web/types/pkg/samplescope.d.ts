// The wasm engine's JS API (src/web.rs, src/web/eval.rs) as the page uses it, for
// `npm run checkjs`. wasm-bindgen's own www/pkg/samplescope.d.ts exists only after a build
// and types every object as `any`; this file states the shapes, so the type check needs no
// build. jsconfig.json's rootDirs makes web/'s `import … from '../pkg/samplescope.js'`
// resolve here. Keep it in step with src/web.rs.

/** Loads the wasm module (once; later calls resolve at once). */
export default function init(): Promise<{ memory: WebAssembly.Memory }>;

/** Checks an eval spec (JSON text) and lists its tasks and configurations; needs no GPU. */
export function evalPreview(specJson: string): EvalPreview;

/** The eval page's Figures (src/eval/presets.rs) at "full" or "small"; needs no GPU. */
export function evalPresets(size: string): Preset[];

/** What the eval runner decodes for one task and configuration of a spec; needs no GPU. */
export function evalTaskSamples(specJson: string, task: number, config: number): EvalTaskSamples;

/**
 * Verifies and summarizes samples drawn elsewhere (the file's text) against an eval spec's
 * task set, verifier, seed and lanes, as `samplescope eval --import`; needs no GPU.
 */
export function evalImport(text: string, specJson: string, codeRuns?: CodeRuns): EvalImportOutput;

/**
 * The distinct Python programs an import of code samples (`verifier: "code"`) needs run;
 * their outcomes go back as evalImport's `codeRuns` (src/eval/code_replay.rs).
 */
export function evalImportPrograms(text: string, specJson: string): string[];

/** Code programs and how each ended (the core's RunOutcome, from web/code-runner.js). */
export interface CodeRuns {
  programs: string[];
  outcomes: { exit: { code: number } | { signal: number } | 'timeout'; stdout: string; stderr: string }[];
}

/** What a model will take on the GPU, worked out before its upload. */
export interface LoadPlan {
  weightBytes: number;
  /** The KV cache allocated at load. */
  kvBytes: number;
  largestTensor: string;
  largestBytes: number;
}

export class WebEngine {
  private constructor();
  /** navigator.gpu + adapter + device; rejects with the reason when there is none. */
  static create(): Promise<WebEngine>;
  adapter(): EngineAdapter;
  /**
   * Parses the GGUF, checks it against the adapter's limits (a tensor that cannot fit
   * rejects here, named), tells `onPlan` what it will take on the GPU, then uploads it;
   * resolves to the model's facts.
   */
  load(bytes: Uint8Array, opts?: { nCtx?: number; maxRows?: number }, onPlan?: (plan: LoadPlan) => void): Promise<ModelFacts>;
  loadStream(
    pull: () => Promise<Uint8Array | null>,
    size: number | null,
    limit: number,
    opts?: { nCtx?: number; maxRows?: number },
    onPlan?: (plan: LoadPlan) => void,
  ): Promise<ModelFacts>;
  modelFacts(): ModelFacts | null;
  encode(prompt: string, chat: boolean): Uint32Array;
  /** Each id's decoded piece ("" for an id outside the vocabulary). */
  tokenTexts(ids: Uint32Array): string[];
  /**
   * All lanes in one batched run; `onEvent` per lane and token. `specs` are SamplerConfig
   * lane specs ("greedy", "temperature=1,top_p=0.9,seed=42"); with `inspectTop` > 0 every
   * event carries the step's Inspection with that many candidates.
   */
  generateLanes(
    prompt: string,
    chat: boolean,
    maxTokens: number,
    specs: string[],
    sameDice: boolean,
    inspectTop: number,
    onEvent: (ev: LaneEvent) => void,
  ): Promise<Generation[]>;
  /**
   * `generateLanes` with forks: lane i draws with Philox sample index `sampleIndices[i]` and
   * starts with the ids `forced[i]` (empty: none) after the prompt, as if it had picked
   * them; its first sampled token is token `forced[i].length`, drawn with that step's dice.
   * Forced tokens come first, as events with `forced` set. `maxTokens` counts sampled tokens.
   */
  generateForks(
    prompt: string,
    chat: boolean,
    maxTokens: number,
    specs: string[],
    sampleIndices: Uint32Array,
    forced: Uint32Array[],
    inspectTop: number,
    onEvent: (ev: LaneEvent) => void,
  ): Promise<Generation[]>;
  /**
   * The distribution behind one step of a lane, recomputed (one prefill of prompt + prefix)
   * and put through the lane's sampler chain on the GPU: the same Inspection a recorded
   * run's event carries. `sampleIndex` is 0 for a run with same dice, else the lane's index.
   */
  inspectStep(prompt: string, chat: boolean, spec: string, sampleIndex: number, prefix: Uint32Array, top: number): Promise<Inspection>;
  /** The running generation or eval ends after the step in flight. */
  stop(): void;
  /** Why the GPU device was lost ("destroyed", or the browser's message), or null while it works. */
  deviceLost(): string | undefined;
  /** Makes the pipelines the load left for first use; returns how many it made. */
  makePipelines(): number;
  /** Destroys the GPU device (GPUDevice.destroy()): for the device-loss tests. */
  debugLoseDevice(): void;
  /** Frees the wasm object (and, with it, the engine's GPU resources). */
  free(): void;
  readonly busy: boolean;
  /** Survivors against temperature at one step (src/eval/survivors.rs): a SurvivorSpec as JSON. */
  survivorCurve(specJson: string): Promise<SurvivorCurve>;
  /** Code tasks: `runCode(programs)` resolves to each program's outcome (CodeRuns' `outcomes`). */
  runEval(specJson: string, onProgress: (p: EvalProgress) => void, runCode?: (programs: string[]) => Promise<CodeRuns['outcomes']>): Promise<EvalOutput>;
}

export interface EngineAdapter {
  name: string;
  backend: string;
  deviceType: string;
  driver: string;
  software: boolean;
  /** Of 'subgroups', 'shader-f16', 'timestamp-query': those the engine uses. */
  features: string[];
  /** The kernel variant chosen for the adapter. */
  variant: string;
  maxStorageBinding: number;
}

export interface ModelFacts {
  name: string;
  architecture: string;
  parameters: number;
  /** Tensor type name → how many tensors use it. */
  quantTypes: Record<string, number>;
  contextLength: number;
  contextAllocated: number;
  vocab: number;
  layers: number;
  embedding: number;
  fileBytes: number;
  weightBytes: number;
  kvBytes: number;
  /** Where the load's time went (src/model/load_times.rs), in ms. */
  load: LoadTimes;
  hasChatTemplate: boolean;
}

/** The phases of a load in Rust, in ms; they follow one another and sum to at most `total`. */
export interface LoadTimes {
  copy: number;
  parse: number;
  plan: number;
  pipelines: number;
  weights: number;
  bind: number;
  tokenizer: number;
  gpu: number;
  total: number;
}

/** Why a lane ended. */
export type StopReason = 'max_tokens' | 'eog' | 'cancelled';

export interface LaneEvent {
  lane: number;
  /** The token's step (0 for the lane's first token, forced or generated). */
  index: number;
  tokenId: number;
  /** The text the token adds ("" while a character's bytes are incomplete). */
  text: string;
  /** A token the lane was given (a fork's prefix), not one its sampler picked. */
  forced: boolean;
  /** Set on the lane's last event. */
  stop: StopReason | null;
  record: LaneRecord | null;
  inspection: Inspection | null;
}

/**
 * The sampler chain's record of one step (serde, snake_case). Thresholds are working logits
 * (penalized, ÷T when the temperature goes first), null when that sampler did not apply.
 */
export interface LaneRecord {
  token: number;
  survivors: number;
  in_play: number;
  max_logit: number;
  token_logit: number;
  token_prob: number;
  step: number;
  greedy: boolean;
  sigma: number | null;
  top_k: number | null;
  top_p: number | null;
  min_p: number | null;
}

export interface Candidate {
  id: number;
  /** The token's decoded piece. */
  text: string;
  /** Working logit. */
  logit: number;
  /** Probability before truncation (softmax over the whole vocabulary). */
  prob_before: number;
  /** Probability after truncation (0 when cut). */
  prob_after: number;
  kept: boolean;
}

export type ThresholdKey = 'greedy' | 'top_n_sigma' | 'top_k' | 'top_p' | 'min_p';

export interface Threshold {
  key: ThresholdKey;
  /** The working-logit cut-off. */
  logit: number;
  /** The untruncated probability of a token at that logit. */
  prob: number;
}

/** The distribution behind one token, from the GPU sampler chain. */
export interface Inspection {
  lane: number;
  record: LaneRecord;
  /** The top candidates, most likely first. */
  candidates: Candidate[];
  /** 64 bins of working logits over [hist_lo, hist_hi]. */
  histogram: number[];
  hist_lo: number;
  hist_hi: number;
  survivors: number;
  kept_mass: number;
  /** The cut-offs that applied, in chain order. */
  thresholds: Threshold[];
  /** The picked token's probability and surprise and the step's entropy (the lab's heat). */
  heat: Heat;
}

/**
 * Under the lane's untruncated distribution (prob_before: the working logits at the lane's
 * temperature, penalties applied; T = 1 for greedy).
 */
export interface Heat {
  /** The picked token's prob_before. */
  prob: number;
  /** −log₂ prob (Infinity for probability 0). */
  surprise_bits: number;
  /** −Σ p log₂ p over every token in play. */
  entropy_bits: number;
  /** The argmax of the working logits (ties → lowest id): greedy's pick here. */
  argmax: number;
}

export interface Generation {
  ids: Uint32Array;
  text: string;
  stop: StopReason;
  promptTokens: number;
  prefillMs: number;
  decodeMs: number;
}

export interface EvalProgress {
  done: number;
  total: number;
  task: number;
  elapsedMs: number;
}

/** The core's report as text: the CLI's JSON and CSV files. */
export interface EvalOutput {
  json: string;
  curvesCsv: string;
  tasksCsv: string;
  sweepCsv: string;
  cancelled: boolean;
}

/** An import's report (`json` also has an "import" section) and what it read, as lines. */
export interface EvalImportOutput extends EvalOutput {
  summary: string;
}

/** A task's samples under one configuration, as the eval runner decodes them. */
export interface EvalTaskSamples {
  /** The task's prompt; the runner applies the chat template (`chat` is true). */
  prompt: string;
  chat: boolean;
  /** The configuration's lane spec with the task's seed. */
  spec: string;
  /** N: the samples have sample indices 0…N−1. */
  samples: number;
  maxTokens: number;
}

export interface EvalPreview {
  tasks: { prompt: string; answer: string }[];
  /** Each configuration's lane spec (one per sweep temperature with a sweep). */
  configs: string[];
  samplesPerTask: number;
  totalSamples: number;
}

/** A figure preset (src/eval/presets.rs's Preset). */
export interface Preset {
  name: string;
  title: string;
  after: string;
  figure: 'sweep' | 'survivors' | 'greedy-vs-sampling' | 'coverage';
  size: 'full' | 'small';
  caption: string;
  /** Eval specs as runEval takes them, run in order. */
  parts: { label: string; spec: object }[];
  survivors: { prompt: string; chat: boolean; samplers: string[]; temperatures: number[] } | null;
  extrapolateTo: number | null;
  tokenBudget: number;
}

/** Survivors against temperature (src/eval/survivors.rs's SurvivorCurve). */
export interface SurvivorCurve {
  temperatures: number[];
  series: { spec: string; survivors: number[] }[];
  in_play: number;
  /** The step at T = 1: its histogram and thresholds. */
  at_t1: Inspection;
}
