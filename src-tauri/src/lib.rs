//! The desktop shell: the only code that knows Tauri. It opens the home,
//! runs the home's engine in-process (holding the home's lock), relays the
//! engine's typed events to the window and as native notifications, keeps
//! a tray icon, and registers commands (each a one-line delegation to
//! bucketsync-api). No sync logic lives here.

mod commands;
mod tray;

use bucketsync_api::engine::Listener;
use bucketsync_api::event::{UiEvent, UiEvents};
use bucketsync_api::lock::Holder;
use bucketsync_api::Api;
use tauri::{Emitter, Manager, RunEvent, WindowEvent};
use tauri_plugin_notification::NotificationExt;

/// Started by the login item: stay in the tray.
const MINIMIZED: &str = "--minimized";

/// Brings the main window to the front (tray Open, a second launch).
pub(crate) fn show_window(app: &tauri::AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

fn relay(app: &tauri::AppHandle, event: UiEvent) {
    if let UiEvent::Notice(n) = &event {
        if let Err(e) = app.notification().builder().title(&n.title).body(&n.body).show() {
            tracing::warn!(error = %e, "cannot show a notification");
        }
    }
    if matches!(event, UiEvent::PairStatus(_) | UiEvent::Engine(_)) {
        tray::refresh(app);
    }
    if let Err(e) = app.emit(event.name(), &event) {
        tracing::warn!(error = %e, "cannot send an event to the window");
    }
}

/// Starts the engine; a refusal (a daemon runs this home) is shown in the
/// window, which offers Retry.
async fn start_engine(app: tauri::AppHandle) {
    let ui = {
        let app = app.clone();
        UiEvents::new(move |event| relay(&app, event))
    };
    let api = app.state::<Api>();
    let config = api.settings().map(|s| s.runner_config()).unwrap_or_default();
    if let Err(e) = api.start_engine(Holder::DesktopApp, config, Listener::Ui(ui.clone())).await {
        tracing::warn!(error = %e, "the engine did not start");
    }
    ui.emit(UiEvent::Engine(api.engine_view().await));
    // Key-expiry reminders: at start, then every few hours.
    loop {
        for notice in api.due_reminder_notices().unwrap_or_default() {
            ui.notice(notice);
        }
        tokio::time::sleep(std::time::Duration::from_secs(4 * 3600)).await;
    }
}

pub fn run() {
    let app = tauri::Builder::default()
        // First: a second launch only focuses the first window.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| show_window(app)))
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![MINIMIZED]),
        ))
        .setup(|app| {
            let home = bucketsync_api::home::resolve(None);
            app.manage(bucketsync_api::log::init(&home, "bucketsync-desktop"));
            let api = Api::open(&home).map_err(|e| format!("{e} ({})", home.display()))?;
            app.manage(api);
            tray::create(app.handle())?;
            if std::env::args().any(|a| a == MINIMIZED) {
                if let Some(w) = app.get_webview_window("main") {
                    let _ = w.hide();
                }
            }
            tauri::async_runtime::spawn(start_engine(app.handle().clone()));
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps the engine syncing in the tray.
            if let WindowEvent::CloseRequested { api, .. } = event {
                let _ = window.hide();
                api.prevent_close();
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::overview::overview,
            commands::overview::engine_state,
            commands::overview::retry_engine,
            commands::wizard::providers,
            commands::wizard::list_policies,
            commands::wizard::check_policy,
            commands::wizard::test_policy,
            commands::wizard::save_policy,
            commands::wizard::discard_draft,
            commands::wizard::remove_policy,
            commands::wizard::apply_cors,
            commands::pairs::dashboard,
            commands::pairs::add_pair,
            commands::pairs::preview_pair,
            commands::pairs::bucket_folders,
            commands::pairs::update_pair,
            commands::pairs::remove_pair,
            commands::pairs::sync_now,
            commands::pairs::pause_pair,
            commands::pairs::resume_pair,
            commands::pairs::pause_all,
            commands::pairs::resume_all,
            commands::pairs::confirm_deletes,
            commands::pairs::keep_files,
            commands::activity::activity,
            commands::settings::settings,
            commands::settings::save_settings,
            commands::browse::browse_list,
            commands::browse::browse_stat,
            commands::browse::browse_new_folder,
            commands::browse::browse_delete_preview,
            commands::browse::browse_delete,
            commands::browse::browse_rename,
            commands::browse::browse_link,
            commands::browse::browse_preview,
            commands::browse::browse_upload,
            commands::browse::browse_download,
            commands::browse::cancel_transfer,
        ])
        .build(tauri::generate_context!())
        .expect("error while building Bucketsync");
    app.run(|app, event| {
        if let RunEvent::Exit = event {
            // Quit: runners stop at a safe point and the lock is released.
            tauri::async_runtime::block_on(app.state::<Api>().stop_engine());
        }
    });
}
