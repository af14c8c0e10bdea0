use bucketsync_api::{Api, ApiError, Overview};

#[tauri::command]
pub fn overview(api: tauri::State<'_, Api>) -> Result<Overview, ApiError> {
    api.overview()
}
