//! CloudWatch's other framings on the same endpoint: the query protocol (`POST /` with an
//! `application/x-www-form-urlencoded` body naming `Action` and `Version=2010-08-01`, answered
//! in XML), Smithy RPC v2 CBOR (`POST /service/GraniteServiceVersion20100801/operation/<Op>`,
//! CBOR both ways, `smithy-protocol: rpc-v2-cbor`), and the error codes CloudWatch's JSON and
//! CBOR clients read from `x-amzn-query-error` (the model is `awsQueryCompatible`: SDKs map
//! errors by these query codes).

use std::time::SystemTime;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use flotilla_api::{ApiError, ErrorCode};

use super::{cbor, input, reply};
use crate::metrics::Call;
use crate::{App, MAX_BODY_BYTES};

pub const SIGNING_NAME: &str = "monitoring";
pub const API_VERSION: &str = "2010-08-01";
const XML_CONTENT_TYPE: &str = "text/xml";
/// Where Smithy RPC v2 requests to CloudWatch go; the operation name follows.
const CBOR_PREFIX: &str = "/service/GraniteServiceVersion20100801/operation/";
const CBOR_CONTENT_TYPE: &str = "application/cbor";

/// Whether a request is framed in CloudWatch's query protocol (rather than AWS JSON).
pub fn is_query(request: &Request) -> bool {
    request.method() == Method::POST
        && request.uri().path() == "/"
        && !request.headers().contains_key("x-amz-target")
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Whether a request is Smithy RPC v2 CBOR to CloudWatch.
pub fn is_cbor(request: &Request) -> bool {
    request.method() == Method::POST && request.uri().path().starts_with(CBOR_PREFIX)
}

/// Serves a Smithy RPC v2 CBOR request: read, authenticate, dispatch, answer in CBOR.
pub async fn serve_cbor(app: &App, request: Request, call: &mut Call) -> Response {
    let (status, body, error) = match rpc_v2(app, request, call).await {
        Ok(body) => (StatusCode::OK, body, None),
        Err(error) => {
            let status = StatusCode::from_u16(error.code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, cbor::error_bytes(error.code, &error.message), Some(error.code))
        }
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CBOR_CONTENT_TYPE));
    if let Some(code) = error {
        headers.insert("x-amzn-query-error", query_error_header(code));
    }
    response
}

async fn rpc_v2(app: &App, request: Request, call: &mut Call) -> Result<Vec<u8>, ApiError> {
    let (parts, body) = request.into_parts();
    let operation = parts.uri.path().strip_prefix(CBOR_PREFIX).unwrap_or_default().to_string();
    call.service = SIGNING_NAME;
    call.operation.clone_from(&operation);
    let body = crate::http::read_body(&parts.headers, body, MAX_BODY_BYTES).await?;
    let now = SystemTime::now();
    crate::http::authenticate(app, &parts, &body, SIGNING_NAME, now)?;
    super::check_operation(&operation)?;
    call.recognized = true;
    let reply = super::dispatch(app, &operation, cbor::from_cbor(&body)?, now)?;
    cbor::to_bytes(&reply)
}

/// Serves a query-protocol request: read, authenticate, dispatch, answer in XML.
pub async fn serve_query(
    app: &App,
    request: Request,
    request_id: &str,
    call: &mut Call,
) -> Response {
    match query(app, request, request_id, call).await {
        Ok(xml) => xml_response(StatusCode::OK, xml),
        Err(error) => xml_error(&error, request_id),
    }
}

async fn query(
    app: &App,
    request: Request,
    request_id: &str,
    call: &mut Call,
) -> Result<String, ApiError> {
    let (parts, body) = request.into_parts();
    let body = crate::http::read_body(&parts.headers, body, MAX_BODY_BYTES).await?;
    let form = input::from_form(&body)?;
    if form.version != API_VERSION {
        return Err(ApiError::new(
            ErrorCode::UnknownOperationException,
            format!(
                "no query-protocol service of Version '{}' here (CloudWatch is {API_VERSION})",
                form.version
            ),
        ));
    }
    call.service = SIGNING_NAME;
    call.operation.clone_from(&form.action);
    let now = SystemTime::now();
    crate::http::authenticate(app, &parts, &body, SIGNING_NAME, now)?;
    let result = super::dispatch(app, &form.action, form.input, now);
    call.recognized = super::OPERATIONS.contains(&form.action.as_str());
    Ok(result?.to_xml(&form.action, request_id))
}

fn xml_response(status: StatusCode, xml: String) -> Response {
    let mut response = Response::new(Body::from(xml));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(XML_CONTENT_TYPE));
    response
}

/// `<ErrorResponse><Error><Type>Sender</Type><Code>…</Code><Message>…`.
fn xml_error(error: &ApiError, request_id: &str) -> Response {
    let (code, fault) = query_error(error.code);
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{}\"><Error><Type>{fault}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>\n",
        reply::XML_NAMESPACE,
        reply::escape_xml(&error.message),
        reply::escape_xml(request_id),
    );
    let status =
        StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    xml_response(status, xml)
}

/// An error's query-protocol code and fault (`Sender` or `Receiver`), as CloudWatch names them.
pub fn query_error(code: ErrorCode) -> (&'static str, &'static str) {
    use ErrorCode::*;
    match code {
        InvalidParameterValueException => ("InvalidParameterValue", "Sender"),
        MissingRequiredParameterException => ("MissingParameter", "Sender"),
        InvalidParameterCombinationException => ("InvalidParameterCombination", "Sender"),
        InvalidNextToken => ("InvalidNextToken", "Sender"),
        ValidationException => ("ValidationError", "Sender"),
        UnknownOperationException => ("InvalidAction", "Sender"),
        SerializationException => ("MalformedInput", "Sender"),
        MissingAuthenticationTokenException => ("MissingAuthenticationToken", "Sender"),
        InvalidSignatureException => ("SignatureDoesNotMatch", "Sender"),
        IncompleteSignatureException => ("IncompleteSignature", "Sender"),
        UnrecognizedClientException => ("InvalidClientTokenId", "Sender"),
        AccessDeniedException => ("AccessDenied", "Sender"),
        RequestEntityTooLargeException => ("RequestEntityTooLarge", "Sender"),
        ThrottlingException => ("Throttling", "Sender"),
        InternalServiceFault => ("InternalServiceError", "Receiver"),
        ServiceUnavailableException => ("ServiceUnavailable", "Receiver"),
        ServerException => ("InternalFailure", "Receiver"),
        other => (other.as_str(), "Sender"),
    }
}

/// The `x-amzn-query-error` header of a JSON error answer: `<query code>;<fault>`.
pub fn query_error_header(code: ErrorCode) -> HeaderValue {
    let (code, fault) = query_error(code);
    HeaderValue::from_str(&format!("{code};{fault}"))
        .unwrap_or_else(|_| HeaderValue::from_static("InternalFailure;Receiver"))
}
