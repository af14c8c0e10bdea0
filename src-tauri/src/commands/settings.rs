use bucketsync_api::settings::AppSettings;
use bucketsync_api::{Api, ApiError};
use tauri::State;

#[tauri::command]
pub async fn settings(api: State<'_, Api>) -> Result<AppSettings, ApiError> {
    api.settings()
}

#[tauri::command]
pub async fn save_settings(api: State<'_, Api>, settings: AppSettings) -> Result<AppSettings, ApiError> {
    api.save_settings(settings).await
}
