/**
 * What a server needs to know about models beyond the engine: versions, and models
 * that failed to load or are loading. Implemented by the model repository, read by
 * every frontend; declared here so neither imports the other.
 */

export type ModelState = 'READY' | 'UNAVAILABLE' | 'LOADING';

/** Implemented by the model repository. */
export interface ModelDirectory {
  /** State of a model (or one version); undefined when the directory does not know it. */
  status(name: string, version?: string): { state: ModelState; reason: string } | undefined;
  /** Versions being served, newest first. */
  versions(name: string): string[];
}
