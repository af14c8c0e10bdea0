use bucketsync_api::browse::transfer::{
    DownloadRequest, TransferEvent, TransferReport, TransferSink, UploadRequest,
};
use bucketsync_api::browse::{
    DeletePreview, DeleteReport, DeleteRequest, LinkRequest, LinkView, ListPageView, ListRequest,
    ObjectDetailsView, ObjectPreview, RenameReport, RenameRequest,
};
use bucketsync_api::event::UiEvent;
use bucketsync_api::{Api, ApiError};
use tauri::{AppHandle, Emitter, State};

/// Per-file progress of a browser transfer, as `transfer` events.
fn to_window(app: AppHandle) -> TransferSink {
    TransferSink::new(move |e: &TransferEvent| {
        let event = UiEvent::Transfer(e.clone());
        let _ = app.emit(event.name(), &event);
    })
}

#[tauri::command]
pub async fn browse_list(api: State<'_, Api>, req: ListRequest) -> Result<ListPageView, ApiError> {
    api.browse_list(req).await
}

#[tauri::command]
pub async fn browse_stat(
    api: State<'_, Api>,
    policy: String,
    key: String,
) -> Result<ObjectDetailsView, ApiError> {
    api.browse_stat(&policy, &key).await
}

#[tauri::command]
pub async fn browse_new_folder(api: State<'_, Api>, policy: String, key: String) -> Result<String, ApiError> {
    api.browse_new_folder(&policy, &key).await
}

#[tauri::command]
pub async fn browse_delete_preview(
    api: State<'_, Api>,
    req: DeleteRequest,
) -> Result<DeletePreview, ApiError> {
    api.browse_delete_preview(&req).await
}

#[tauri::command]
pub async fn browse_delete(api: State<'_, Api>, req: DeleteRequest) -> Result<DeleteReport, ApiError> {
    api.browse_delete(req).await
}

#[tauri::command]
pub async fn browse_rename(api: State<'_, Api>, req: RenameRequest) -> Result<RenameReport, ApiError> {
    api.browse_rename(req).await
}

#[tauri::command]
pub async fn browse_link(api: State<'_, Api>, req: LinkRequest) -> Result<LinkView, ApiError> {
    api.browse_link(req).await
}

#[tauri::command]
pub async fn browse_preview(
    api: State<'_, Api>,
    policy: String,
    key: String,
) -> Result<ObjectPreview, ApiError> {
    api.browse_preview(&policy, &key).await
}

#[tauri::command]
pub async fn browse_upload(
    app: AppHandle,
    api: State<'_, Api>,
    req: UploadRequest,
) -> Result<TransferReport, ApiError> {
    api.browse_upload(req, to_window(app)).await
}

#[tauri::command]
pub async fn browse_download(
    app: AppHandle,
    api: State<'_, Api>,
    req: DownloadRequest,
) -> Result<TransferReport, ApiError> {
    api.browse_download(req, to_window(app)).await
}

#[tauri::command]
pub async fn cancel_transfer(api: State<'_, Api>, id: String) -> Result<bool, ApiError> {
    Ok(api.cancel_transfer(&id))
}
