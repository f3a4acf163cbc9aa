from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
STATUS_CODE_ALREADY_EXISTS: StatusCode
STATUS_CODE_ERROR: StatusCode
STATUS_CODE_INVALID_ARGUMENT: StatusCode
STATUS_CODE_ITEM_BUSY: StatusCode
STATUS_CODE_ITEM_NOT_BUSY: StatusCode
STATUS_CODE_ITEM_NOT_FOUND: StatusCode
STATUS_CODE_LEADER_SWITCH: StatusCode
STATUS_CODE_NOT_FOUND: StatusCode
STATUS_CODE_OK: StatusCode
STATUS_CODE_QUEUE_FULL: StatusCode
STATUS_CODE_QUEUE_NOT_FOUND: StatusCode
STATUS_CODE_QUEUE_PAUSED: StatusCode
STATUS_CODE_STORAGE_NOT_FOUND: StatusCode
STATUS_CODE_TIMEOUT: StatusCode

class BatchEnqueueRequest(_message.Message):
    __slots__ = ["items", "timeout"]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[InputItem]
    timeout: _duration_pb2.Duration
    def __init__(self, items: _Optional[_Iterable[_Union[InputItem, _Mapping]]] = ..., timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class BatchEnqueueResponse(_message.Message):
    __slots__ = ["ids"]
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ids: _Optional[_Iterable[int]] = ...) -> None: ...

class CommitRequest(_message.Message):
    __slots__ = ["ids"]
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ids: _Optional[_Iterable[int]] = ...) -> None: ...

class CommitResponse(_message.Message):
    __slots__ = ["ret"]
    RET_FIELD_NUMBER: _ClassVar[int]
    ret: int
    def __init__(self, ret: _Optional[int] = ...) -> None: ...

class CommitSingleRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class CommitSingleResponse(_message.Message):
    __slots__ = ["committed"]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    committed: bool
    def __init__(self, committed: bool = ...) -> None: ...

class CreateQueueRequest(_message.Message):
    __slots__ = ["dead_letter_queue", "lease", "max_deliveries", "max_size", "priorities", "queue_name"]
    DEAD_LETTER_QUEUE_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    MAX_DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    PRIORITIES_FIELD_NUMBER: _ClassVar[int]
    QUEUE_NAME_FIELD_NUMBER: _ClassVar[int]
    dead_letter_queue: str
    lease: _duration_pb2.Duration
    max_deliveries: int
    max_size: int
    priorities: int
    queue_name: str
    def __init__(self, queue_name: _Optional[str] = ..., priorities: _Optional[int] = ..., max_size: _Optional[int] = ..., lease: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., max_deliveries: _Optional[int] = ..., dead_letter_queue: _Optional[str] = ...) -> None: ...

class CreateStorageRequest(_message.Message):
    __slots__ = ["storage_name"]
    STORAGE_NAME_FIELD_NUMBER: _ClassVar[int]
    storage_name: str
    def __init__(self, storage_name: _Optional[str] = ...) -> None: ...

class DeleteQueueRequest(_message.Message):
    __slots__ = ["queue_name"]
    QUEUE_NAME_FIELD_NUMBER: _ClassVar[int]
    queue_name: str
    def __init__(self, queue_name: _Optional[str] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ["ids"]
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ids: _Optional[_Iterable[int]] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ["ret"]
    RET_FIELD_NUMBER: _ClassVar[int]
    ret: int
    def __init__(self, ret: _Optional[int] = ...) -> None: ...

class DeleteSingleRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class DeleteSingleResponse(_message.Message):
    __slots__ = ["deleted"]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: bool = ...) -> None: ...

class DeleteStorageRequest(_message.Message):
    __slots__ = ["storage_name"]
    STORAGE_NAME_FIELD_NUMBER: _ClassVar[int]
    storage_name: str
    def __init__(self, storage_name: _Optional[str] = ...) -> None: ...

class EnqueueRequest(_message.Message):
    __slots__ = ["item", "timeout"]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    item: InputItem
    timeout: _duration_pb2.Duration
    def __init__(self, item: _Optional[_Union[InputItem, _Mapping]] = ..., timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class EnqueueResponse(_message.Message):
    __slots__ = ["duplicate", "id"]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    id: int
    def __init__(self, id: _Optional[int] = ..., duplicate: bool = ...) -> None: ...

class ExtendRequest(_message.Message):
    __slots__ = ["ids", "lease"]
    IDS_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    lease: _duration_pb2.Duration
    def __init__(self, ids: _Optional[_Iterable[int]] = ..., lease: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ExtendResponse(_message.Message):
    __slots__ = ["ret"]
    RET_FIELD_NUMBER: _ClassVar[int]
    ret: int
    def __init__(self, ret: _Optional[int] = ...) -> None: ...

class GetQueueInfoRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class GetQueueInfoResponse(_message.Message):
    __slots__ = ["active", "length", "max_size", "paused", "priorities"]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    PRIORITIES_FIELD_NUMBER: _ClassVar[int]
    active: int
    length: int
    max_size: int
    paused: bool
    priorities: int
    def __init__(self, max_size: _Optional[int] = ..., length: _Optional[int] = ..., active: _Optional[int] = ..., priorities: _Optional[int] = ..., paused: bool = ...) -> None: ...

class InputItem(_message.Message):
    __slots__ = ["compress", "delay", "key", "priority", "ttl", "unique_key", "value"]
    COMPRESS_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    compress: bool
    delay: _duration_pb2.Duration
    key: bytes
    priority: int
    ttl: _duration_pb2.Duration
    unique_key: bytes
    value: bytes
    def __init__(self, ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., priority: _Optional[int] = ..., key: _Optional[bytes] = ..., unique_key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., delay: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., compress: bool = ...) -> None: ...

class Item(_message.Message):
    __slots__ = ["delivery_count", "enqueued_at", "id", "key", "priority", "unique_key", "value"]
    DELIVERY_COUNT_FIELD_NUMBER: _ClassVar[int]
    ENQUEUED_AT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    delivery_count: int
    enqueued_at: _timestamp_pb2.Timestamp
    id: int
    key: bytes
    priority: int
    unique_key: bytes
    value: bytes
    def __init__(self, id: _Optional[int] = ..., priority: _Optional[int] = ..., key: _Optional[bytes] = ..., unique_key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., delivery_count: _Optional[int] = ..., enqueued_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListQueueItem(_message.Message):
    __slots__ = ["active", "count", "dead_letter_queue", "lease", "max_deliveries", "max_size", "paused", "priorities", "queue_name"]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_QUEUE_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    MAX_DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    PRIORITIES_FIELD_NUMBER: _ClassVar[int]
    QUEUE_NAME_FIELD_NUMBER: _ClassVar[int]
    active: int
    count: int
    dead_letter_queue: str
    lease: _duration_pb2.Duration
    max_deliveries: int
    max_size: int
    paused: bool
    priorities: int
    queue_name: str
    def __init__(self, queue_name: _Optional[str] = ..., priorities: _Optional[int] = ..., max_size: _Optional[int] = ..., count: _Optional[int] = ..., active: _Optional[int] = ..., paused: bool = ..., lease: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., max_deliveries: _Optional[int] = ..., dead_letter_queue: _Optional[str] = ...) -> None: ...

class ListQueuesResponse(_message.Message):
    __slots__ = ["queues"]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedCompositeFieldContainer[ListQueueItem]
    def __init__(self, queues: _Optional[_Iterable[_Union[ListQueueItem, _Mapping]]] = ...) -> None: ...

class ListStorageItem(_message.Message):
    __slots__ = ["active", "count", "storage_name"]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    STORAGE_NAME_FIELD_NUMBER: _ClassVar[int]
    active: int
    count: int
    storage_name: str
    def __init__(self, storage_name: _Optional[str] = ..., count: _Optional[int] = ..., active: _Optional[int] = ...) -> None: ...

class ListStoragesResponse(_message.Message):
    __slots__ = ["storages"]
    STORAGES_FIELD_NUMBER: _ClassVar[int]
    storages: _containers.RepeatedCompositeFieldContainer[ListStorageItem]
    def __init__(self, storages: _Optional[_Iterable[_Union[ListStorageItem, _Mapping]]] = ...) -> None: ...

class NoopRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class PauseQueueRequest(_message.Message):
    __slots__ = ["queue_name"]
    QUEUE_NAME_FIELD_NUMBER: _ClassVar[int]
    queue_name: str
    def __init__(self, queue_name: _Optional[str] = ...) -> None: ...

class PullRequest(_message.Message):
    __slots__ = ["batch_size", "timeout"]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    batch_size: int
    timeout: _duration_pb2.Duration
    def __init__(self, batch_size: _Optional[int] = ..., timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class PullResponse(_message.Message):
    __slots__ = ["items"]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Item]
    def __init__(self, items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ...) -> None: ...

class PullSingleRequest(_message.Message):
    __slots__ = ["timeout"]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    timeout: _duration_pb2.Duration
    def __init__(self, timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class PullSingleResponse(_message.Message):
    __slots__ = ["item"]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    item: Item
    def __init__(self, item: _Optional[_Union[Item, _Mapping]] = ...) -> None: ...

class QueueRequest(_message.Message):
    __slots__ = ["batch_enqueue", "commit", "commit_single", "correlation_id", "delete", "delete_single", "enqueue", "extend", "get_queue_info", "noop", "pull", "pull_single", "requeue", "requeue_single", "setup"]
    BATCH_ENQUEUE_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    COMMIT_SINGLE_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    DELETE_SINGLE_FIELD_NUMBER: _ClassVar[int]
    ENQUEUE_FIELD_NUMBER: _ClassVar[int]
    EXTEND_FIELD_NUMBER: _ClassVar[int]
    GET_QUEUE_INFO_FIELD_NUMBER: _ClassVar[int]
    NOOP_FIELD_NUMBER: _ClassVar[int]
    PULL_FIELD_NUMBER: _ClassVar[int]
    PULL_SINGLE_FIELD_NUMBER: _ClassVar[int]
    REQUEUE_FIELD_NUMBER: _ClassVar[int]
    REQUEUE_SINGLE_FIELD_NUMBER: _ClassVar[int]
    SETUP_FIELD_NUMBER: _ClassVar[int]
    batch_enqueue: BatchEnqueueRequest
    commit: CommitRequest
    commit_single: CommitSingleRequest
    correlation_id: int
    delete: DeleteRequest
    delete_single: DeleteSingleRequest
    enqueue: EnqueueRequest
    extend: ExtendRequest
    get_queue_info: GetQueueInfoRequest
    noop: NoopRequest
    pull: PullRequest
    pull_single: PullSingleRequest
    requeue: RequeueRequest
    requeue_single: RequeueSingleRequest
    setup: SetupRequest
    def __init__(self, correlation_id: _Optional[int] = ..., setup: _Optional[_Union[SetupRequest, _Mapping]] = ..., noop: _Optional[_Union[NoopRequest, _Mapping]] = ..., enqueue: _Optional[_Union[EnqueueRequest, _Mapping]] = ..., pull_single: _Optional[_Union[PullSingleRequest, _Mapping]] = ..., pull: _Optional[_Union[PullRequest, _Mapping]] = ..., commit_single: _Optional[_Union[CommitSingleRequest, _Mapping]] = ..., commit: _Optional[_Union[CommitRequest, _Mapping]] = ..., requeue_single: _Optional[_Union[RequeueSingleRequest, _Mapping]] = ..., requeue: _Optional[_Union[RequeueRequest, _Mapping]] = ..., delete_single: _Optional[_Union[DeleteSingleRequest, _Mapping]] = ..., delete: _Optional[_Union[DeleteRequest, _Mapping]] = ..., batch_enqueue: _Optional[_Union[BatchEnqueueRequest, _Mapping]] = ..., get_queue_info: _Optional[_Union[GetQueueInfoRequest, _Mapping]] = ..., extend: _Optional[_Union[ExtendRequest, _Mapping]] = ...) -> None: ...

class QueueResponse(_message.Message):
    __slots__ = ["batch_enqueue", "commit", "commit_single", "correlation_id", "delete", "delete_single", "enqueue", "extend", "get_queue_info", "pull", "pull_single", "requeue", "requeue_single", "status"]
    BATCH_ENQUEUE_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    COMMIT_SINGLE_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    DELETE_SINGLE_FIELD_NUMBER: _ClassVar[int]
    ENQUEUE_FIELD_NUMBER: _ClassVar[int]
    EXTEND_FIELD_NUMBER: _ClassVar[int]
    GET_QUEUE_INFO_FIELD_NUMBER: _ClassVar[int]
    PULL_FIELD_NUMBER: _ClassVar[int]
    PULL_SINGLE_FIELD_NUMBER: _ClassVar[int]
    REQUEUE_FIELD_NUMBER: _ClassVar[int]
    REQUEUE_SINGLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    batch_enqueue: BatchEnqueueResponse
    commit: CommitResponse
    commit_single: CommitSingleResponse
    correlation_id: int
    delete: DeleteResponse
    delete_single: DeleteSingleResponse
    enqueue: EnqueueResponse
    extend: ExtendResponse
    get_queue_info: GetQueueInfoResponse
    pull: PullResponse
    pull_single: PullSingleResponse
    requeue: RequeueResponse
    requeue_single: RequeueSingleResponse
    status: StatusResponse
    def __init__(self, correlation_id: _Optional[int] = ..., status: _Optional[_Union[StatusResponse, _Mapping]] = ..., enqueue: _Optional[_Union[EnqueueResponse, _Mapping]] = ..., pull_single: _Optional[_Union[PullSingleResponse, _Mapping]] = ..., pull: _Optional[_Union[PullResponse, _Mapping]] = ..., commit_single: _Optional[_Union[CommitSingleResponse, _Mapping]] = ..., commit: _Optional[_Union[CommitResponse, _Mapping]] = ..., requeue_single: _Optional[_Union[RequeueSingleResponse, _Mapping]] = ..., requeue: _Optional[_Union[RequeueResponse, _Mapping]] = ..., delete_single: _Optional[_Union[DeleteSingleResponse, _Mapping]] = ..., delete: _Optional[_Union[DeleteResponse, _Mapping]] = ..., batch_enqueue: _Optional[_Union[BatchEnqueueResponse, _Mapping]] = ..., get_queue_info: _Optional[_Union[GetQueueInfoResponse, _Mapping]] = ..., extend: _Optional[_Union[ExtendResponse, _Mapping]] = ...) -> None: ...

class RequeueItem(_message.Message):
    __slots__ = ["delay", "id", "priority", "ttl"]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    delay: _duration_pb2.Duration
    id: int
    priority: int
    ttl: _duration_pb2.Duration
    def __init__(self, id: _Optional[int] = ..., ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., priority: _Optional[int] = ..., delay: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RequeueRequest(_message.Message):
    __slots__ = ["items"]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[RequeueItem]
    def __init__(self, items: _Optional[_Iterable[_Union[RequeueItem, _Mapping]]] = ...) -> None: ...

class RequeueResponse(_message.Message):
    __slots__ = ["ret"]
    RET_FIELD_NUMBER: _ClassVar[int]
    ret: int
    def __init__(self, ret: _Optional[int] = ...) -> None: ...

class RequeueSingleRequest(_message.Message):
    __slots__ = ["item"]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    item: RequeueItem
    def __init__(self, item: _Optional[_Union[RequeueItem, _Mapping]] = ...) -> None: ...

class RequeueSingleResponse(_message.Message):
    __slots__ = ["requeued"]
    REQUEUED_FIELD_NUMBER: _ClassVar[int]
    requeued: bool
    def __init__(self, requeued: bool = ...) -> None: ...

class ResizeQueueRequest(_message.Message):
    __slots__ = ["max_size", "queue_name"]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_NAME_FIELD_NUMBER: _ClassVar[int]
    max_size: int
    queue_name: str
    def __init__(self, queue_name: _Optional[str] = ..., max_size: _Optional[int] = ...) -> None: ...

class ResumeQueueRequest(_message.Message):
    __slots__ = ["queue_name"]
    QUEUE_NAME_FIELD_NUMBER: _ClassVar[int]
    queue_name: str
    def __init__(self, queue_name: _Optional[str] = ...) -> None: ...

class SetupRequest(_message.Message):
    __slots__ = ["queue_name"]
    QUEUE_NAME_FIELD_NUMBER: _ClassVar[int]
    queue_name: str
    def __init__(self, queue_name: _Optional[str] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ["code", "id", "message"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: StatusCode
    id: int
    message: str
    def __init__(self, code: _Optional[_Union[StatusCode, str]] = ..., message: _Optional[str] = ..., id: _Optional[int] = ...) -> None: ...

class StorageDataResponse(_message.Message):
    __slots__ = ["id", "key", "lock_token", "value"]
    ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    LOCK_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    id: int
    key: bytes
    lock_token: int
    value: bytes
    def __init__(self, id: _Optional[int] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., lock_token: _Optional[int] = ...) -> None: ...

class StorageDeleteRequest(_message.Message):
    __slots__ = ["key", "lock_token"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    LOCK_TOKEN_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    lock_token: int
    def __init__(self, key: _Optional[bytes] = ..., lock_token: _Optional[int] = ...) -> None: ...

class StorageGetByIdsRequest(_message.Message):
    __slots__ = ["ids"]
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ids: _Optional[_Iterable[int]] = ...) -> None: ...

class StorageGetInfoRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class StorageGetInfoResponse(_message.Message):
    __slots__ = ["active", "count"]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    active: int
    count: int
    def __init__(self, count: _Optional[int] = ..., active: _Optional[int] = ...) -> None: ...

class StorageGetKeysNextRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class StorageGetKeysRequest(_message.Message):
    __slots__ = ["active_included"]
    ACTIVE_INCLUDED_FIELD_NUMBER: _ClassVar[int]
    active_included: bool
    def __init__(self, active_included: bool = ...) -> None: ...

class StorageGetKeysResponse(_message.Message):
    __slots__ = ["keys", "more"]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    more: bool
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ..., more: bool = ...) -> None: ...

class StorageGetRequest(_message.Message):
    __slots__ = ["key"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class StorageItemsResponse(_message.Message):
    __slots__ = ["items"]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[StorageDataResponse]
    def __init__(self, items: _Optional[_Iterable[_Union[StorageDataResponse, _Mapping]]] = ...) -> None: ...

class StorageLockAnyWithIdRequest(_message.Message):
    __slots__ = ["key_prefix", "lock_ttl", "timeout"]
    KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    LOCK_TTL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    key_prefix: bytes
    lock_ttl: _duration_pb2.Duration
    timeout: _duration_pb2.Duration
    def __init__(self, timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., key_prefix: _Optional[bytes] = ..., lock_ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StorageLockKeyRequest(_message.Message):
    __slots__ = ["key", "lock_ttl", "timeout"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    LOCK_TTL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    lock_ttl: _duration_pb2.Duration
    timeout: _duration_pb2.Duration
    def __init__(self, key: _Optional[bytes] = ..., lock_ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StorageReleaseIdRequest(_message.Message):
    __slots__ = ["delete", "id", "lock_token"]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LOCK_TOKEN_FIELD_NUMBER: _ClassVar[int]
    delete: bool
    id: int
    lock_token: int
    def __init__(self, id: _Optional[int] = ..., delete: bool = ..., lock_token: _Optional[int] = ...) -> None: ...

class StorageRequest(_message.Message):
    __slots__ = ["correlation_id", "delete", "get", "get_by_ids", "get_info", "get_keys", "get_keys_next", "lock_any_with_id", "lock_key", "noop", "release_id", "set", "setup"]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    GET_BY_IDS_FIELD_NUMBER: _ClassVar[int]
    GET_FIELD_NUMBER: _ClassVar[int]
    GET_INFO_FIELD_NUMBER: _ClassVar[int]
    GET_KEYS_FIELD_NUMBER: _ClassVar[int]
    GET_KEYS_NEXT_FIELD_NUMBER: _ClassVar[int]
    LOCK_ANY_WITH_ID_FIELD_NUMBER: _ClassVar[int]
    LOCK_KEY_FIELD_NUMBER: _ClassVar[int]
    NOOP_FIELD_NUMBER: _ClassVar[int]
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    SETUP_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    correlation_id: int
    delete: StorageDeleteRequest
    get: StorageGetRequest
    get_by_ids: StorageGetByIdsRequest
    get_info: StorageGetInfoRequest
    get_keys: StorageGetKeysRequest
    get_keys_next: StorageGetKeysNextRequest
    lock_any_with_id: StorageLockAnyWithIdRequest
    lock_key: StorageLockKeyRequest
    noop: NoopRequest
    release_id: StorageReleaseIdRequest
    set: StorageSetRequest
    setup: StorageSetupRequest
    def __init__(self, correlation_id: _Optional[int] = ..., setup: _Optional[_Union[StorageSetupRequest, _Mapping]] = ..., noop: _Optional[_Union[NoopRequest, _Mapping]] = ..., set: _Optional[_Union[StorageSetRequest, _Mapping]] = ..., get: _Optional[_Union[StorageGetRequest, _Mapping]] = ..., delete: _Optional[_Union[StorageDeleteRequest, _Mapping]] = ..., lock_any_with_id: _Optional[_Union[StorageLockAnyWithIdRequest, _Mapping]] = ..., release_id: _Optional[_Union[StorageReleaseIdRequest, _Mapping]] = ..., get_keys: _Optional[_Union[StorageGetKeysRequest, _Mapping]] = ..., get_keys_next: _Optional[_Union[StorageGetKeysNextRequest, _Mapping]] = ..., get_info: _Optional[_Union[StorageGetInfoRequest, _Mapping]] = ..., lock_key: _Optional[_Union[StorageLockKeyRequest, _Mapping]] = ..., get_by_ids: _Optional[_Union[StorageGetByIdsRequest, _Mapping]] = ...) -> None: ...

class StorageResponse(_message.Message):
    __slots__ = ["correlation_id", "data_response", "get_info_response", "get_keys_response", "items_response", "status"]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    GET_INFO_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    GET_KEYS_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    correlation_id: int
    data_response: StorageDataResponse
    get_info_response: StorageGetInfoResponse
    get_keys_response: StorageGetKeysResponse
    items_response: StorageItemsResponse
    status: StatusResponse
    def __init__(self, correlation_id: _Optional[int] = ..., status: _Optional[_Union[StatusResponse, _Mapping]] = ..., data_response: _Optional[_Union[StorageDataResponse, _Mapping]] = ..., get_keys_response: _Optional[_Union[StorageGetKeysResponse, _Mapping]] = ..., get_info_response: _Optional[_Union[StorageGetInfoResponse, _Mapping]] = ..., items_response: _Optional[_Union[StorageItemsResponse, _Mapping]] = ...) -> None: ...

class StorageSetRequest(_message.Message):
    __slots__ = ["compress", "delay", "key", "lock_token", "ttl", "value"]
    COMPRESS_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    LOCK_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    compress: bool
    delay: _duration_pb2.Duration
    key: bytes
    lock_token: int
    ttl: _duration_pb2.Duration
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., compress: bool = ..., delay: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., lock_token: _Optional[int] = ...) -> None: ...

class StorageSetupRequest(_message.Message):
    __slots__ = ["storage_name"]
    STORAGE_NAME_FIELD_NUMBER: _ClassVar[int]
    storage_name: str
    def __init__(self, storage_name: _Optional[str] = ...) -> None: ...

class StatusCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
