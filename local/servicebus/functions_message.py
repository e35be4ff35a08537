"""The `azure.functions.ServiceBusMessage` a function gets for a local queue message.

On Azure the Service Bus extension 5.x gives the host a fixed set of trigger metadata for a
received message (`ServiceBusTriggerBindingStrategy.GetBindingData`): DeliveryCount,
DeadLetterSource, LockToken, ExpiresAtUtc, ExpiresAt, EnqueuedTimeUtc, EnqueuedTime, MessageId,
ContentType, ReplyTo, SequenceNumber, To, Subject, Label, CorrelationId, ApplicationProperties,
UserProperties, SessionId, ReplyToSessionId, PartitionKey, TransactionPartitionKey, and its
settlement objects. The Python library decodes that metadata into the message's fields; a
field whose key is not sent (DeadLetterReason, DeadLetterErrorDescription, LockedUntil,
TimeToLive, ...) stays None there.

So this module sends only keys from that list, those the local queue knows, and lets the
library decode them as the Python worker does: a dead letter's reason reaches the function
in its application properties, as on Azure, and nowhere else.
"""

from __future__ import annotations

import json

from azure.functions.meta import Datum
from azure.functions.servicebus import ServiceBusMessage, ServiceBusMessageInConverter

from local.servicebus.session_queue import LockedMessage


def to_functions_message(msg: LockedMessage) -> ServiceBusMessage:
    """The ServiceBusMessage the Python worker would build for this message."""
    props = json.dumps(msg.application_properties)
    enqueued = msg.enqueued_time.isoformat()
    metadata = {
        "MessageId": Datum(msg.message_id, "string"),
        "SessionId": Datum(msg.session_id, "string"),
        "DeliveryCount": Datum(msg.delivery_count, "int"),
        "SequenceNumber": Datum(msg.sequence_number, "int"),
        "EnqueuedTimeUtc": Datum(enqueued, "string"),
        "EnqueuedTime": Datum(enqueued, "string"),
        "ContentType": Datum(msg.content_type, "string"),
        "LockToken": Datum(msg.lock_token, "string"),
        "ApplicationProperties": Datum(props, "json"),
        "UserProperties": Datum(props, "json"),  # the extension's name for them before 5.x
    }
    decoded = ServiceBusMessageInConverter.decode(
        Datum(msg.body, "bytes"), trigger_metadata=metadata
    )
    assert isinstance(decoded, ServiceBusMessage)  # one message: the trigger is not batched
    return decoded
