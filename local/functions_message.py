"""The `azure.functions.ServiceBusMessage` the Functions host passes for a local queue message."""

from __future__ import annotations

import json

from azure.functions.meta import Datum
from azure.functions.servicebus import ServiceBusMessage

from local.session_queue import LockedMessage


def to_functions_message(msg: LockedMessage) -> ServiceBusMessage:
    """The ServiceBusMessage the Functions host would pass for this message."""
    props = dict(msg.application_properties)
    # The host passes trigger metadata as Datum values; `.metadata` decodes them the same way.
    metadata = {
        "MessageId": Datum(msg.message_id, "string"),
        "SessionId": Datum(msg.session_id, "string"),
        "DeliveryCount": Datum(msg.delivery_count, "int"),
        "SequenceNumber": Datum(msg.sequence_number, "int"),
        "EnqueuedTimeUtc": Datum(msg.enqueued_time.isoformat(), "string"),
        "ContentType": Datum(msg.content_type, "string"),
        "LockToken": Datum(msg.lock_token, "string"),
        "ApplicationProperties": Datum(json.dumps(props), "json"),
        "UserProperties": Datum(json.dumps(props), "json"),
    }
    if msg.dead_letter_reason is not None:
        metadata["DeadLetterReason"] = Datum(msg.dead_letter_reason, "string")
        metadata["DeadLetterErrorDescription"] = Datum(msg.dead_letter_error_description, "string")
    return ServiceBusMessage(
        body=msg.body,
        message_id=msg.message_id,
        session_id=msg.session_id,
        delivery_count=msg.delivery_count,
        enqueued_time_utc=msg.enqueued_time,
        sequence_number=msg.sequence_number,
        lock_token=msg.lock_token,
        locked_until=msg.locked_until,
        content_type=msg.content_type,
        application_properties=props,
        user_properties=dict(props),
        dead_letter_reason=msg.dead_letter_reason,
        dead_letter_error_description=msg.dead_letter_error_description,
        trigger_metadata=metadata,
    )
