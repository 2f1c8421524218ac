"""An upload over the attachment size limit stops being kept as soon as it passes it.

Django reads a multipart body before any view runs (the CSRF check reads the form), keeping
each file in memory or a temporary file whatever its size. First among the upload handlers,
this one passes a file's bytes on until ``REDRESS_ATTACHMENT_MAX_BYTES`` and then drops the
rest, counting it: the form then gets an empty stand-in with the file's name and real size,
and refuses it with both sizes (``desk.forms.AttachmentsField``). A 2 GB upload costs the
server the limit in memory or on disk, not 2 GB.
"""

import io

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler


class OversizedUpload(UploadedFile):
    """A file that was over the limit: its name and size, none of its bytes."""

    def __init__(self, name, content_type, size, charset, content_type_extra=None):
        super().__init__(io.BytesIO(b""), name, content_type, size, charset, content_type_extra)


class AttachmentSizeLimit(FileUploadHandler):
    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.oversized = False

    def receive_data_chunk(self, raw_data, start):
        if self.oversized or start + len(raw_data) > settings.REDRESS_ATTACHMENT_MAX_BYTES:
            self.oversized = True
            return None  # the later handlers never see the rest of this file
        return raw_data

    def file_complete(self, file_size):
        if not self.oversized:
            return None  # the next handler (memory or temporary file) has the file
        return OversizedUpload(
            self.file_name, self.content_type, file_size, self.charset, self.content_type_extra
        )
