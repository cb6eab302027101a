"""S3's errors: the one error class the S3 front raises, and S3's wire format for it.

:class:`S3Error` is a :class:`common.errors.StrataError` whose status comes from
its code (:data:`CODES`, as AWS documents them). Handlers raise it (or let a
``StrataError``/``ApiError`` of shared code pass); the front renders every one
of them with :func:`render` (``<Error><Code/><Message/><Resource/><RequestId/>``),
the one place S3 errors become answers.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from common.errors import StrataError
from common.http import ApiError
from proxy.pipeline import SwiftResponse

DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

# code -> (status, default message), as AWS documents them
CODES: dict[str, tuple[int, str]] = {
    "AccessControlListNotSupported": (400, "The bucket does not allow ACLs"),
    "AccessDenied": (403, "Access Denied"),
    "AccessForbidden": (403, "CORSResponse: This CORS request is not allowed."),
    "AmbiguousGrantByEmailAddress": (400, "The email address you provided is associated with more "
                                          "than one account."),
    "AuthorizationHeaderMalformed": (400, "The authorization header is malformed."),
    "AuthorizationQueryParametersError": (400, "Error parsing the X-Amz-Credential "
                                               "parameter."),
    "BadDigest": (400, "The Content-MD5 you specified did not match what we received."),
    "BadRequest": (400, "Bad Request"),
    "BucketAlreadyExists": (409, "The requested bucket name is not available."),
    "BucketAlreadyOwnedByYou": (409, "Your previous request to create the named bucket "
                                     "succeeded and you already own it."),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty"),
    "ConditionalRequestConflict": (409, "A conflicting operation occurred."),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed object size."),
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed object "
                            "size."),
    "IncompleteBody": (400, "You did not provide the number of bytes specified by the "
                            "Content-Length HTTP header."),
    "IncorrectNumberOfFilesInPostRequest": (400, "POST requires exactly one file upload per "
                                                 "request."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "InvalidAccessKeyId": (403, "The AWS Access Key Id you provided does not exist in our "
                                "records."),
    "InvalidArgument": (400, "Invalid Argument"),
    "InvalidBucketAclWithObjectOwnership": (400, "Bucket cannot have ACLs set with "
                                                 "ObjectOwnership's BucketOwnerEnforced setting"),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidBucketState": (409, "The request is not valid with the current state of the bucket."),
    "InvalidDigest": (400, "The Content-MD5 you specified is not valid."),
    "InvalidLocationConstraint": (400, "The specified location constraint is not valid."),
    "InvalidPart": (400, "One or more of the specified parts could not be found. The part "
                         "might not have been uploaded, or the specified entity tag might not "
                         "have matched the part's entity tag."),
    "InvalidPartNumber": (416, "The requested partnumber is not satisfiable"),
    "InvalidPartOrder": (400, "The list of parts was not in ascending order. Parts must be "
                              "ordered by part number."),
    "InvalidPolicyDocument": (400, "The content of the form does not meet the conditions "
                                   "specified in the policy document."),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidRequest": (400, "Invalid Request"),
    "InvalidTag": (400, "The tag provided was not a valid tag."),
    "KeyTooLongError": (400, "Your key is too long"),
    "MalformedACLError": (400, "The XML you provided was not well-formed or did not "
                               "validate against our published schema."),
    "MalformedPolicy": (400, "Policy has invalid resource"),
    "MalformedPOSTRequest": (400, "The body of your POST request is not well-formed "
                                  "multipart/form-data."),
    "MalformedXML": (400, "The XML you provided was not well-formed or did not validate "
                          "against our published schema."),
    "MaxPostPreDataLengthExceededError": (400, "Your POST request fields preceding the upload "
                                               "file were too large."),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header."),
    "MissingSecurityHeader": (400, "Your request was missing a required header"),
    "NoSuchBucket": (404, "The specified bucket does not exist"),
    "NoSuchBucketPolicy": (404, "The bucket policy does not exist"),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchObjectLockConfiguration": (404, "The specified object does not have a ObjectLock "
                                           "configuration"),
    "NoSuchPublicAccessBlockConfiguration": (404, "The public access block configuration was not "
                                                  "found"),
    "NoSuchUpload": (404, "The specified upload does not exist. The upload ID may be invalid, "
                          "or the upload may have been aborted or completed."),
    "NoSuchVersion": (404, "The specified version does not exist."),
    "NoSuchCORSConfiguration": (404, "The CORS configuration does not exist"),
    "NoSuchTagSet": (404, "The TagSet does not exist"),
    "NotImplemented": (501, "A header or query you provided implies functionality that is "
                            "not implemented."),
    "ObjectLockConfigurationNotFoundError": (404, "Object Lock configuration does not exist for "
                                                  "this bucket"),
    "OperationAborted": (409, "A conflicting conditional operation is currently in "
                              "progress against this resource. Please try again."),
    "OwnershipControlsNotFoundError": (404, "The bucket ownership controls were not found"),
    "PreconditionFailed": (412, "At least one of the preconditions you specified did not "
                                "hold."),
    "RequestTimeTooSkewed": (403, "The difference between the request time and the current "
                                  "time is too large."),
    "ServiceUnavailable": (503, "Please reduce your request rate."),
    "SignatureDoesNotMatch": (403, "The request signature we calculated does not match the "
                                   "signature you provided. Check your key and signing "
                                   "method."),
    "UnexpectedContent": (400, "This request does not support content"),
    "UnresolvableGrantByEmailAddress": (400, "The email address you provided does not match any "
                                             "account on record."),
    "XAmzContentSHA256Mismatch": (400, "The provided 'x-amz-content-sha256' header does not "
                                       "match what was computed."),
}
UNKNOWN = 400  # the status of a code the table does not list


class S3Error(StrataError):
    """An S3 error answer: its ``code``, its status from :data:`CODES`, ``extra``
    elements for the document (e.g. ``BucketName``) and ``answer_headers`` to send
    with it (``x-amz-delete-marker``, ...)."""

    def __init__(self, code: str, message: str = "", **extra: str) -> None:
        super().__init__(message or CODES.get(code, (UNKNOWN, code))[1])
        self.code = code
        self.extra = extra
        self.answer_headers: dict[str, str] = {}

    @property
    def status(self) -> int:
        return CODES.get(self.code, (UNKNOWN, ""))[0]

    @status.setter
    def status(self, value: int) -> None:
        raise AttributeError("an S3 error's status is its code's")

    def headers(self) -> dict[str, str]:
        return dict(self.answer_headers)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def error_xml(err: S3Error, resource: str, request_id: str) -> bytes:
    root = ET.Element("Error")
    ET.SubElement(root, "Code").text = err.code
    ET.SubElement(root, "Message").text = err.message
    for k, v in err.extra.items():
        ET.SubElement(root, k).text = v
    ET.SubElement(root, "Resource").text = resource
    ET.SubElement(root, "RequestId").text = request_id
    return DECLARATION + bytes(ET.tostring(root, encoding="utf-8"))


def as_s3(err: StrataError | ApiError) -> S3Error:
    """Any error a handler let through, as S3's: shared code's by its status."""
    return err if isinstance(err, S3Error) else from_swift_status(err.status)


def render(err: StrataError | ApiError, method: str, resource: str,
           request_id: str) -> SwiftResponse:
    """The answer to a request that failed with ``err`` (a HEAD's has no body)."""
    s3err = as_s3(err)
    headers = s3err.headers()
    if method == "HEAD":
        return SwiftResponse.of(s3err.status, {"Content-Length": "0", **headers})
    return SwiftResponse.of(s3err.status, {"Content-Type": "application/xml", **headers},
                            error_xml(s3err, resource, request_id))


def from_swift_status(status: int, *, bucket: bool = False, key: bool = False) -> S3Error:
    """The S3 error for a failed Swift subrequest."""
    if status in (401, 403):
        return S3Error("AccessDenied")
    if status == 404:
        return S3Error("NoSuchKey") if key else S3Error("NoSuchBucket")
    if status == 409 and bucket:
        return S3Error("BucketNotEmpty")
    if status == 411:
        return S3Error("MissingContentLength")
    if status == 412:
        return S3Error("PreconditionFailed", Condition="If-Match")
    if status == 413:
        return S3Error("EntityTooLarge")
    if status == 416:
        return S3Error("InvalidRange")
    if status == 422:
        return S3Error("BadDigest")
    if status == 499:
        return S3Error("IncompleteBody")
    if status == 503:
        return S3Error("ServiceUnavailable")
    if status // 100 == 4:
        return S3Error("InvalidRequest")
    return S3Error("InternalError")
