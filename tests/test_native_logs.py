"""Tests of tf_aql.native_logs: Reverb's and XLA's info lines dropped, everything else kept."""
import contextlib
import io
import os

import tensorflow as tf

from tf_aql.native_logs import native_info_dropped


class NativeInfoDroppedTest(tf.test.TestCase):

  def test_drops_the_info_lines_and_writes_back_the_others_in_order(self):
    lines = [b'[reverb/cc/client.cc:165] Sampler and server are owned by the same process (7) '
             b'so Table uniform_table is accessed directly without gRPC.\n',
             b'[reverb/cc/writer.cc:12] Could not write the item.\n',
             b'[reverb/cc/reverb_service_impl.cc:168] Stored checkpoint to /tmp/replay/x\n',
             b'I0000 00:00:1.0 7 device_compiler.h:186] Compiled cluster using XLA!  This line '
             b'is logged at most once for the lifetime of the process.\n',
             b'Traceback (most recent call last):\n']
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
      with native_info_dropped():
        for line in lines:
          os.write(2, line)  # what C++ loggers do: straight to the descriptor
    self.assertEqual(stderr.getvalue(), '[reverb/cc/writer.cc:12] Could not write the item.\n'
                     'Traceback (most recent call last):\n')

  def test_lines_are_written_back_when_the_block_raises(self):
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
      with self.assertRaises(RuntimeError):
        with native_info_dropped():
          os.write(2, b'[reverb/cc/table.cc:1] Table is full.\n')
          raise RuntimeError('boom')
    self.assertEqual(stderr.getvalue(), '[reverb/cc/table.cc:1] Table is full.\n')


if __name__ == '__main__':
  tf.test.main()
