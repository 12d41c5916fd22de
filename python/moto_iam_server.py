"""moto's server, with the IAM behaviour AWS documents that moto 5.2 lacks and idflow relies on.

Started by devstack/stack.ts instead of moto_server. Each change follows the IAM API reference:
- UpdateUser (NewUserName, NewPath): the user keeps its tags. moto keys tags by ARN, which contains
  the name and path, so a renamed or moved user lost them.
- UpdateUser NewUserName: a name held by another user, regardless of case, is EntityAlreadyExists
  (IAM user names are unique case-insensitively); moto replaced the other user silently.
- Service-specific credentials (CodeCommit Git, Keyspaces, Bedrock): Create, List, Update, Reset
  and DeleteServiceSpecificCredential, which moto lacks (it answers with an HTML 500 page). As
  documented: at most 2 per user and service, ServiceUserName `<user>-at-<account id>`, the
  password only in Create and Reset, NoSuchEntity for an unknown user or credential, and
  DeleteUser refused (DeleteConflict) while the user still has one.
"""
import random
import string
import sys

from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.iam import models, responses
from moto.iam.exceptions import DeleteConflictException, EntityAlreadyExists, IAMException, LimitExceededException, NoSuchEntity

_update_user = models.IAMBackend.update_user


def update_user(self, user_name, new_path=None, new_user_name=None):
    user = self.get_user(user_name)
    if new_user_name and new_user_name != user_name:
        for other in self.users.values():
            if other is not user and other.name.lower() == new_user_name.lower():
                raise EntityAlreadyExists(f"User with name {new_user_name} already exists.")
    old_arn = user.arn
    tags = self.tagger.list_tags_for_resource(old_arn)["Tags"]
    _update_user(self, user_name, new_path, new_user_name)
    if user.arn != old_arn:
        self.tagger.delete_all_tags_for_resource(old_arn)
        self.tagger.tag_resource(user.arn, tags)


models.IAMBackend.update_user = update_user

# ------------------------------------------------------------ service-specific credentials

SUPPORTED_SERVICES = {"codecommit.amazonaws.com", "cassandra.amazonaws.com", "bedrock.amazonaws.com"}
PER_SERVICE_LIMIT = 2


class ServiceNotSupported(IAMException):
    code = "NotSupportedService"


class ServiceSpecificCredential:
    def __init__(self, account_id, user_name, service_name):
        self.user_name = user_name
        self.service_name = service_name
        self.service_user_name = f"{user_name}-at-{account_id}"
        self.service_specific_credential_id = "ACCA" + "".join(random.choices(string.ascii_uppercase + string.digits, k=17))
        self.status = "Active"
        self.create_date = utcnow()
        self.reset_password()

    def reset_password(self):
        self.service_password = "".join(random.choices(string.ascii_letters + string.digits + "+/", k=44))


def _credentials(backend):
    if not hasattr(backend, "service_specific_credentials"):
        backend.service_specific_credentials = []
    return backend.service_specific_credentials


def _credential(backend, user_name, credential_id):
    for c in _credentials(backend):
        if c.service_specific_credential_id == credential_id and (user_name is None or c.user_name == user_name):
            return c
    raise NoSuchEntity(f"No such credential {credential_id} exists")


def create_service_specific_credential(self):
    user_name = self._get_param("UserName")
    service_name = self._get_param("ServiceName")
    self.backend.get_user(user_name)
    if service_name not in SUPPORTED_SERVICES:
        raise ServiceNotSupported(f"Service {service_name} is not supported for service specific credentials")
    existing = [c for c in _credentials(self.backend) if c.user_name == user_name and c.service_name == service_name]
    if len(existing) >= PER_SERVICE_LIMIT:
        raise LimitExceededException(f"Cannot create more than {PER_SERVICE_LIMIT} service specific credentials for {service_name} per user")
    credential = ServiceSpecificCredential(self.current_account, user_name, service_name)
    _credentials(self.backend).append(credential)
    return ActionResult({"ServiceSpecificCredential": credential})


def list_service_specific_credentials(self):
    user_name = self._get_param("UserName")
    service_name = self._get_param("ServiceName")
    if user_name:
        self.backend.get_user(user_name)
    found = [c for c in _credentials(self.backend) if (not user_name or c.user_name == user_name) and (not service_name or c.service_name == service_name)]
    return ActionResult({"ServiceSpecificCredentials": found})


def update_service_specific_credential(self):
    status = self._get_param("Status")
    if status not in ("Active", "Inactive"):
        raise IAMException(f"Value '{status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]")
    _credential(self.backend, self._get_param("UserName"), self._get_param("ServiceSpecificCredentialId")).status = status
    return EmptyResult()


def reset_service_specific_credential(self):
    credential = _credential(self.backend, self._get_param("UserName"), self._get_param("ServiceSpecificCredentialId"))
    credential.reset_password()
    return ActionResult({"ServiceSpecificCredential": credential})


def delete_service_specific_credential(self):
    credential = _credential(self.backend, self._get_param("UserName"), self._get_param("ServiceSpecificCredentialId"))
    _credentials(self.backend).remove(credential)
    return EmptyResult()


for _action in (create_service_specific_credential, list_service_specific_credentials, update_service_specific_credential, reset_service_specific_credential, delete_service_specific_credential):
    setattr(responses.IamResponse, _action.__name__, _action)

_delete_user = models.IAMBackend.delete_user


def delete_user(self, user_name):
    if any(c.user_name == user_name for c in _credentials(self)):
        raise DeleteConflictException("Cannot delete entity, must remove service specific credentials first.")
    _delete_user(self, user_name)


models.IAMBackend.delete_user = delete_user

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
