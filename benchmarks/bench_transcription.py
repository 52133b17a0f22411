"""Real-time factor of the offline transcription default (audio seconds per second of
processing): Whisper base, int8, on 2 CPU threads, for a ~60 s clip and a short one, with the
segments decoded one at a time and in batches. The speech is French from espeak-ng.

Whisper reads audio in 30 s windows and pads shorter ones, so a 6 s clip costs almost what a
30 s one does: short clips have a lower real-time factor by construction.

    python -m benchmarks.bench_transcription [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import print_table
from nodes.models.speech import decode
from nodes.models.speech.local import LocalWhisper, load_pipeline
from tests.support.speech import GREETING, speak

MEETING_MINUTE = (
    "Bonjour à tous et merci d'être venus à cette réunion de suivi du projet. "
    "Nous commençons par le budget du trimestre, qui reste dans les limites prévues. "
    "Les dépenses de serveurs ont augmenté de dix pour cent depuis le mois dernier, surtout à cause du stockage. "
    "Nous avons décidé de migrer la base de données vers le nouveau cluster avant la fin du mois. "
    "Paul doit préparer le plan de migration et le présenter vendredi. "
    "Marie va contacter le fournisseur pour renégocier le contrat de maintenance. "
    "L'équipe support signale moins de tickets depuis la mise à jour de la documentation. "
    "Nous devons encore tester la sauvegarde complète avant la migration. "
    "Le calendrier de livraison est confirmé pour le début du mois de mars. "
    "La prochaine réunion aura lieu mardi prochain à dix heures, dans la grande salle. "
    "Côté sécurité, l'audit externe commencera la semaine prochaine et durera trois jours. "
    "Les nouveaux postes de travail seront livrés aux équipes avant les congés. "
    "Enfin, la formation des utilisateurs est reportée au mois d'avril faute de salle disponible. "
    "Merci à tous et bonne journée."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-transcription-"))
    clips = {
        "~60 s meeting": decode(speak(MEETING_MINUTE, folder / "minute.wav").read_bytes(), 600),
        "short clip": decode(speak(GREETING, folder / "short.wav").read_bytes(), 600),
    }
    model_dir = folder / "whisper-base"
    started = time.perf_counter()
    load_pipeline(model_dir, args.threads, 1)
    print(f"model assembled from its two PyPI parts and loaded in {time.perf_counter() - started:.1f} s ({args.threads} threads, int8)")
    rows = []
    for batch_size in (1, 4):
        transcriber = LocalWhisper(model_dir, cpu_threads=args.threads, batch_size=batch_size)
        for name, audio in clips.items():
            transcriber.transcribe_sync(audio, "fr")  # warm-up
            seconds = []
            for _ in range(args.repeats):
                transcript = transcriber.transcribe_sync(audio, "fr")
                seconds.append(transcript.seconds)
            median = statistics.median(seconds)
            rows.append(
                [name, f"{audio.duration:.1f}", str(batch_size), str(transcript.segments), f"{median:.2f}", f"{audio.duration / median:.1f}x", f"{audio.duration / min(seconds):.1f}x"]
            )
    print_table(
        f"Offline transcription, whisper-base int8, {args.threads} threads, language fr, median of {args.repeats}",
        ["clip", "audio s", "batch", "segments", "processing s", "real-time factor", "best"],
        rows,
    )


if __name__ == "__main__":
    main()
