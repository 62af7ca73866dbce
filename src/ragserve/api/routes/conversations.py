from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.exceptions import RequestValidationError

from ragserve.access.principal import Role
from ragserve.api.deps import AccessDep, Conversations
from ragserve.api.errors import raises
from ragserve.api.routes import ConversationIdPath
from ragserve.errors import CollectionNotFound, Forbidden, NotFound, RequestTooLarge
from ragserve.protocol import (
    COLLECTION_NAME,
    ConversationCreate,
    ConversationInfo,
    ConversationRename,
    ConversationSummary,
)

router = APIRouter(prefix="/api/conversations", tags=["chat"])

_TOTAL_COUNT = {
    "X-Total-Count": {
        "description": "Conversations matching `collection`, before `limit` and `offset`.",
        "schema": {"type": "integer", "minimum": 0},
    }
}


@router.get(
    "",
    response_model=list[ConversationSummary],
    responses={
        200: {"description": "Conversations, newest first", "headers": _TOTAL_COUNT},
        **raises(RequestValidationError),
    },
)
def list_conversations(
    conversations: Conversations,
    response: Response,
    access: AccessDep,
    collection: Annotated[
        str | None, Query(pattern=COLLECTION_NAME, description="Only this collection's.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[ConversationSummary]:
    """The caller's stored conversations, most recently updated first (no turns: GET one
    for those)."""
    page, total = conversations.page(collection, limit, offset, access.owner_filter)
    response.headers["X-Total-Count"] = str(total)
    return page


@router.post(
    "",
    status_code=201,
    response_model=ConversationSummary,
    responses=raises(RequestValidationError, RequestTooLarge, CollectionNotFound, Forbidden),
)
def create_conversation(
    body: ConversationCreate, conversations: Conversations, access: AccessDep
) -> ConversationSummary:
    """An empty conversation, the caller's; pass its id as `conversation_id` to /api/chat.
    A named collection must be one the caller may read."""
    if body.collection is not None:
        access.collection(body.collection, Role.viewer)
    return conversations.create(body, access.principal.user_id)


@router.get(
    "/{conversation_id:uuid}",
    response_model=ConversationInfo,
    responses=raises(RequestValidationError, NotFound),
)
def get_conversation(
    conversation_id: ConversationIdPath, conversations: Conversations, access: AccessDep
) -> ConversationInfo:
    """A stored conversation's turns, oldest first."""
    access.conversation(str(conversation_id))
    return conversations.get(str(conversation_id))


@router.patch(
    "/{conversation_id:uuid}",
    response_model=ConversationSummary,
    responses=raises(RequestValidationError, RequestTooLarge, NotFound),
)
def rename_conversation(
    conversation_id: ConversationIdPath,
    body: ConversationRename,
    conversations: Conversations,
    access: AccessDep,
) -> ConversationSummary:
    """Rename a conversation."""
    access.conversation(str(conversation_id))
    return conversations.rename(str(conversation_id), body.title)


@router.delete(
    "/{conversation_id:uuid}",
    status_code=204,
    responses=raises(RequestValidationError, NotFound),
)
def delete_conversation(
    conversation_id: ConversationIdPath, conversations: Conversations, access: AccessDep
) -> Response:
    """Delete a conversation and its turns."""
    access.conversation(str(conversation_id))
    conversations.delete(str(conversation_id))
    return Response(status_code=204)
