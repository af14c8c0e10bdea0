use bucketsync_api::dashboard::ActivityQuery;
use bucketsync_api::sync::ActivityView;
use bucketsync_api::{Api, ApiError};
use tauri::State;

#[tauri::command]
pub async fn activity(api: State<'_, Api>, query: ActivityQuery) -> Result<Vec<ActivityView>, ApiError> {
    api.activity(&query)
}
