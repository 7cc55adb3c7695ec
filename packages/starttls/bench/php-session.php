<?php
// N SMTP sessions with PHP streams in one process: php bench/php-session.php PORT CA_FILE [N].
// Each session: stream_socket_client(tcp://127.0.0.1:PORT), greeting, EHLO, STARTTLS, stream_socket_enable_crypto
// (TLS client; cafile + peer_name "localhost", verify_peer and verify_peer_name on), EHLO, QUIT.
// Prints a JSON list of per-session durations in ms.
[$_, $port, $cafile] = $argv;
$n = (int)($argv[3] ?? 1);
function reply($fp) {
  $text = "";
  while (($line = fgets($fp)) !== false) {
    $text .= $line;
    if (strlen($line) < 4 || $line[3] !== "-") break;
  }
  return (int)substr($text, 0, 3);
}
function expect($got, $want, $what) { if ($got !== $want) { fwrite(STDERR, "$what: $got\n"); exit(1); } }
$times = [];
for ($i = 0; $i < $n; $i++) {
  $start = hrtime(true);
  $ctx = stream_context_create(["ssl" => [
    "cafile" => $cafile, "peer_name" => "localhost", "verify_peer" => true, "verify_peer_name" => true,
  ]]);
  $fp = stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 10, STREAM_CLIENT_CONNECT, $ctx);
  if ($fp === false) { fwrite(STDERR, "connect: $errstr\n"); exit(1); }
  expect(reply($fp), 220, "greeting");
  fwrite($fp, "EHLO localhost\r\n"); expect(reply($fp), 250, "EHLO");
  fwrite($fp, "STARTTLS\r\n"); expect(reply($fp), 220, "STARTTLS");
  if (stream_socket_enable_crypto($fp, true, STREAM_CRYPTO_METHOD_TLS_CLIENT) !== true) { fwrite(STDERR, "TLS failed\n"); exit(1); }
  fwrite($fp, "EHLO localhost\r\n"); expect(reply($fp), 250, "EHLO over TLS");
  fwrite($fp, "QUIT\r\n"); expect(reply($fp), 221, "QUIT");
  fclose($fp);
  $times[] = (hrtime(true) - $start) / 1e6;
}
echo json_encode($times), "\n";
