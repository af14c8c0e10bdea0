use bucketsync_api::dashboard::Dashboard;
use bucketsync_api::pair::{AddPairRequest, PairView, UpdatePairRequest};
use bucketsync_api::sync::PreviewView;
use bucketsync_api::{Api, ApiError};
use tauri::State;

#[tauri::command]
pub async fn dashboard(api: State<'_, Api>) -> Result<Dashboard, ApiError> {
    api.dashboard().await
}

#[tauri::command]
pub async fn add_pair(api: State<'_, Api>, req: AddPairRequest) -> Result<PairView, ApiError> {
    api.add_pair(req).await
}

#[tauri::command]
pub async fn preview_pair(api: State<'_, Api>, name: String) -> Result<PreviewView, ApiError> {
    api.preview_one(&name).await
}

#[tauri::command]
pub async fn bucket_folders(
    api: State<'_, Api>,
    policy: String,
    prefix: String,
) -> Result<Vec<String>, ApiError> {
    api.bucket_folders(&policy, &prefix).await
}

#[tauri::command]
pub async fn update_pair(api: State<'_, Api>, req: UpdatePairRequest) -> Result<PairView, ApiError> {
    api.update_pair(req).await
}

#[tauri::command]
pub async fn remove_pair(api: State<'_, Api>, name: String) -> Result<(), ApiError> {
    api.remove_pair(&name).await
}

#[tauri::command]
pub async fn sync_now(api: State<'_, Api>, name: String) -> Result<(), ApiError> {
    api.sync_now(&name).await
}

#[tauri::command]
pub async fn pause_pair(api: State<'_, Api>, name: String) -> Result<PairView, ApiError> {
    api.set_pair_paused(&name, true).await
}

#[tauri::command]
pub async fn resume_pair(api: State<'_, Api>, name: String) -> Result<PairView, ApiError> {
    api.set_pair_paused(&name, false).await
}

#[tauri::command]
pub async fn pause_all(api: State<'_, Api>) -> Result<(), ApiError> {
    api.pause_all().await
}

#[tauri::command]
pub async fn resume_all(api: State<'_, Api>) -> Result<(), ApiError> {
    api.resume_all().await
}

#[tauri::command]
pub async fn confirm_deletes(api: State<'_, Api>, name: String, set: String) -> Result<(), ApiError> {
    api.confirm_deletes(&name, &set).await
}

#[tauri::command]
pub async fn keep_files(api: State<'_, Api>, name: String, set: String) -> Result<(), ApiError> {
    api.keep_files(&name, &set).await
}
