//! The desktop shell: the only code that knows Tauri. It opens the home,
//! registers commands (each a one-line delegation to bucketsync-api) and runs
//! the window. No sync logic lives here.

mod commands;

use bucketsync_api::Api;
use tauri::Manager;

pub fn run() {
    tauri::Builder::default()
        .setup(|app| {
            let home = bucketsync_api::home::resolve(None);
            app.manage(bucketsync_api::log::init(&home, "bucketsync-desktop"));
            let api = Api::open(&home).map_err(|e| format!("{e} ({})", home.display()))?;
            app.manage(api);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![commands::overview::overview, commands::wizard::providers,])
        .run(tauri::generate_context!())
        .expect("error while running Bucketsync");
}
