// Where the window is: one screen of the registry (screens.ts) and its
// parameters. Screens move with `go`; nothing else keeps navigation state.

export interface Place {
  screen: string;
  /** Screen-specific, e.g. the wizard's { edit: "b2-photos", step: "access" }. */
  params: Record<string, string>;
}

export const nav = $state<Place>({ screen: "pairs", params: {} });

export function go(screen: string, params: Record<string, string> = {}): void {
  nav.screen = screen;
  nav.params = params;
}
