//! The tray icon: overall status (idle / syncing / needs you), Open,
//! Pause all, Resume all, Quit.

use bucketsync_api::Api;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Wry};

const TRAY: &str = "main";

/// The status line, kept to change its text.
struct StatusItem(MenuItem<Wry>);

pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let status = MenuItem::with_id(app, "status", "Bucketsync: starting…", false, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, "open", "Open Bucketsync", true, None::<&str>)?,
            &MenuItem::with_id(app, "pause-all", "Pause all", true, None::<&str>)?,
            &MenuItem::with_id(app, "resume-all", "Resume all", true, None::<&str>)?,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, "quit", "Quit Bucketsync", true, None::<&str>)?,
        ],
    )?;
    app.manage(StatusItem(status));
    let mut tray =
        TrayIconBuilder::with_id(TRAY).menu(&menu).tooltip("Bucketsync").show_menu_on_left_click(false);
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.on_menu_event(|app, event| match event.id().as_ref() {
        "open" => crate::show_window(app),
        "pause-all" => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let _ = app.state::<Api>().pause_all().await;
            });
        }
        "resume-all" => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let _ = app.state::<Api>().resume_all().await;
            });
        }
        "quit" => app.exit(0),
        _ => {}
    })
    .on_tray_icon_event(|tray, event| {
        if let TrayIconEvent::Click {
            button: MouseButton::Left, button_state: MouseButtonState::Up, ..
        } = event
        {
            crate::show_window(tray.app_handle());
        }
    })
    .build(app)?;
    Ok(())
}

/// Shows the engine's overall status in the tray.
pub fn refresh(app: &AppHandle) {
    let text = app.state::<Api>().overall().describe();
    if let Some(item) = app.try_state::<StatusItem>() {
        let _ = item.0.set_text(format!("Bucketsync: {text}"));
    }
    if let Some(tray) = app.tray_by_id(TRAY) {
        let _ = tray.set_tooltip(Some(format!("Bucketsync: {text}")));
    }
}
