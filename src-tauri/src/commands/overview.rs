use bucketsync_api::engine::EngineView;
use bucketsync_api::{Api, ApiError, Overview};
use tauri::State;

#[tauri::command]
pub async fn overview(api: State<'_, Api>) -> Result<Overview, ApiError> {
    api.overview()
}

#[tauri::command]
pub async fn engine_state(api: State<'_, Api>) -> Result<EngineView, ApiError> {
    Ok(api.engine_view().await)
}

#[tauri::command]
pub async fn retry_engine(api: State<'_, Api>) -> Result<EngineView, ApiError> {
    api.retry_engine().await
}
