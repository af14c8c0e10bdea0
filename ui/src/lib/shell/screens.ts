// The navigation: one entry per screen. Adding a screen is adding an entry
// here (the sidebar, keyboard shortcuts and routing all read this list).
import type { Component } from "svelte";
import PairsScreen from "../pairs/PairsScreen.svelte";
import ActivityScreen from "../activity/ActivityScreen.svelte";
import BrowserScreen from "../browser/BrowserScreen.svelte";
import StorageScreen from "../storage/StorageScreen.svelte";
import SettingsScreen from "../settings/SettingsScreen.svelte";
import Wizard from "../wizard/Wizard.svelte";

export interface Screen {
  id: string;
  title: string;
  /** A one-character glyph for the sidebar. */
  icon: string;
  component: Component;
  /** Reached from other screens only (the wizard), not listed in the sidebar. */
  hidden?: boolean;
}

export const SCREENS: Screen[] = [
  { id: "pairs", title: "Pairs", icon: "⇅", component: PairsScreen },
  { id: "browse", title: "Browse", icon: "▤", component: BrowserScreen },
  { id: "activity", title: "Activity", icon: "≡", component: ActivityScreen },
  { id: "storage", title: "Storage", icon: "◫", component: StorageScreen },
  { id: "settings", title: "Settings", icon: "⚙", component: SettingsScreen },
  { id: "wizard", title: "Connect a bucket", icon: "+", component: Wizard, hidden: true },
];

export function screen(id: string): Screen {
  return SCREENS.find((s) => s.id === id) ?? SCREENS[0]!;
}
