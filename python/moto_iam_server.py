"""moto's server, with the IAM behaviour AWS documents that moto 5.2 lacks and idflow relies on.

Started by devstack/stack.ts instead of moto_server. Each change follows the IAM API reference:
- UpdateUser (NewUserName, NewPath): the user keeps its tags. moto keys tags by ARN, which contains
  the name and path, so a renamed or moved user lost them.
- UpdateUser NewUserName: a name held by another user, regardless of case, is EntityAlreadyExists
  (IAM user names are unique case-insensitively); moto replaced the other user silently.
"""
import sys

from moto.iam import models
from moto.iam.exceptions import EntityAlreadyExists

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

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
